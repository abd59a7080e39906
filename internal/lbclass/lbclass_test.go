package lbclass

import (
	"errors"
	"flag"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
)

func service(typ v1.ServiceType, class string) *v1.Service {
	svc := &v1.Service{Spec: v1.ServiceSpec{Type: typ}}
	if class != "" {
		svc.Spec.LoadBalancerClass = &class
	}
	return svc
}

func TestDecide(t *testing.T) {
	const ours, other = "example.com/barelb", "example.com/other"
	lb := v1.ServiceTypeLoadBalancer
	tests := []struct {
		name string
		sel  Selector
		svc  *v1.Service
		want Verdict
	}{
		{name: "default: class-less served", sel: Selector{}, svc: service(lb, ""), want: ServedClassless},
		{name: "default: any class is another's", sel: Selector{}, svc: service(lb, ours), want: OtherClass},
		{name: "default: ClusterIP", sel: Selector{}, svc: service(v1.ServiceTypeClusterIP, ""), want: NotLoadBalancer},
		{name: "default: NodePort", sel: Selector{}, svc: service(v1.ServiceTypeNodePort, ""), want: NotLoadBalancer},
		{name: "class and class-less: ours", sel: Selector{Class: ours}, svc: service(lb, ours), want: ServedClass},
		{name: "class and class-less: class-less", sel: Selector{Class: ours}, svc: service(lb, ""), want: ServedClassless},
		{name: "class and class-less: another class", sel: Selector{Class: ours}, svc: service(lb, other), want: OtherClass},
		{name: "class only: ours", sel: Selector{Class: ours, SkipClassless: true}, svc: service(lb, ours), want: ServedClass},
		{name: "class only: class-less skipped", sel: Selector{Class: ours, SkipClassless: true}, svc: service(lb, ""), want: ClasslessSkipped},
		{name: "class only: another class", sel: Selector{Class: ours, SkipClassless: true}, svc: service(lb, other), want: OtherClass},
		{name: "class only: a prefix of ours is another class", sel: Selector{Class: ours, SkipClassless: true}, svc: service(lb, "example.com/barel"), want: OtherClass},
		{name: "class only: not a LoadBalancer", sel: Selector{Class: ours, SkipClassless: true}, svc: service(v1.ServiceTypeClusterIP, ""), want: NotLoadBalancer},
		{name: "an empty class string is a class, not class-less", sel: Selector{}, svc: func() *v1.Service {
			s := service(lb, "")
			s.Spec.LoadBalancerClass = new(string)
			return s
		}(), want: OtherClass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.sel.Decide(tt.svc)
			if got != tt.want {
				t.Errorf("Decide() = %v, want %v", got, tt.want)
			}
			if served := tt.want == ServedClass || tt.want == ServedClassless; tt.sel.Serves(tt.svc) != served {
				t.Errorf("Serves() = %v, want %v", !served, served)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		sel     Selector
		wantErr bool
		is      error
	}{
		{name: "default", sel: Selector{}},
		{name: "prefixed class", sel: Selector{Class: "example.com/barelb"}},
		{name: "plain class", sel: Selector{Class: "internal-vip", SkipClassless: true}},
		{name: "nothing served", sel: Selector{SkipClassless: true}, wantErr: true, is: ErrServesNothing},
		{name: "space", sel: Selector{Class: "my class"}, wantErr: true},
		{name: "two slashes", sel: Selector{Class: "a/b/c"}, wantErr: true},
		{name: "too long name", sel: Selector{Class: "example.com/" + string(make([]byte, 64))}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.sel.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Validate() = %v, want %v", err, tt.is)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		sel  Selector
		want string
	}{
		{Selector{}, "class-less"},
		{Selector{Class: "x"}, "class-less and class x"},
		{Selector{Class: "x", SkipClassless: true}, "class x"},
		{Selector{SkipClassless: true}, "none"},
	}
	for _, tt := range tests {
		if got := tt.sel.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.sel, got, tt.want)
		}
	}
	if got := Verdict(42).String(); got != "Verdict(42)" {
		t.Errorf("Verdict(42).String() = %q", got)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Selector
		wantErr bool
	}{
		{name: "defaults", args: nil, want: Selector{}},
		{name: "class", args: []string{"--load-balancer-class=example.com/barelb"}, want: Selector{Class: "example.com/barelb"}},
		{name: "class only", args: []string{"--load-balancer-class=example.com/barelb", "--serve-classless=false"}, want: Selector{Class: "example.com/barelb", SkipClassless: true}},
		{name: "nothing", args: []string{"--serve-classless=false"}, wantErr: true},
		{name: "bad class", args: []string{"--load-balancer-class=no spaces"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var f Flags
			f.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.Selector()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Selector() error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Selector() (-want +got):\n%s", diff)
			}
		})
	}
}
