package svcrequest

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/allocator"
)

func service(mutate func(*v1.Service)) *v1.Service {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: v1.ServiceSpec{
			Type:       v1.ServiceTypeLoadBalancer,
			IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
			Ports:      []v1.ServicePort{{Protocol: v1.ProtocolTCP, Port: 80}},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

func ptr[T any](v T) *T { return &v }

func TestRequestFor(t *testing.T) {
	tests := []struct {
		name    string
		svc     *v1.Service
		want    allocator.Request
		wantErr string // substring; empty means no error
	}{
		{
			name: "plain",
			svc:  service(nil),
			want: allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4},
				Ports: []allocator.Port{{Protocol: "TCP", Port: 80}}},
		},
		{
			name: "no families means IPv4",
			svc:  service(func(s *v1.Service) { s.Spec.IPFamilies = nil }),
			want: allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4},
				Ports: []allocator.Port{{Protocol: "TCP", Port: 80}}},
		},
		{
			name: "annotations, local policy and selector",
			svc: service(func(s *v1.Service) {
				s.Annotations = map[string]string{
					AnnotationAddressPool:   "my-ip-space",
					AnnotationAllowSharedIP: "key1",
				}
				s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
				s.Spec.Selector = map[string]string{"b": "2", "a": "1"}
				s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Protocol: v1.ProtocolUDP, Port: 53}, v1.ServicePort{Port: 8080})
			}),
			want: allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4},
				Pool: "my-ip-space", SharingKey: "key1", TrafficPolicyLocal: true, Selector: "a=1,b=2",
				Ports: []allocator.Port{{Protocol: "TCP", Port: 80}, {Protocol: "UDP", Port: 53}, {Protocol: "TCP", Port: 8080}}},
		},
		{
			name: "dual-stack, IPv6 first",
			svc: service(func(s *v1.Service) {
				s.Spec.IPFamilies = []v1.IPFamily{v1.IPv6Protocol, v1.IPv4Protocol}
				s.Spec.IPFamilyPolicy = ptr(v1.IPFamilyPolicyRequireDualStack)
				s.Annotations = map[string]string{AnnotationLoadBalancerIPs: "198.51.100.7, 2001:db8::7"}
			}),
			want: allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv6, allocator.IPv4},
				FamilyPolicy: allocator.RequireDualStack,
				Addresses:    []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7")},
				Ports:        []allocator.Port{{Protocol: "TCP", Port: 80}}},
		},
		{
			name: "spec.loadBalancerIP",
			svc:  service(func(s *v1.Service) { s.Spec.LoadBalancerIP = "198.51.100.3" }),
			want: allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4},
				Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.3")},
				Ports:     []allocator.Port{{Protocol: "TCP", Port: 80}}},
		},
		{
			name: "prefer dual-stack",
			svc:  service(func(s *v1.Service) { s.Spec.IPFamilyPolicy = ptr(v1.IPFamilyPolicyPreferDualStack) }),
			want: allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4},
				FamilyPolicy: allocator.PreferDualStack, Ports: []allocator.Port{{Protocol: "TCP", Port: 80}}},
		},
		{
			name: "both loadBalancerIP and annotation",
			svc: service(func(s *v1.Service) {
				s.Spec.LoadBalancerIP = "198.51.100.3"
				s.Annotations = map[string]string{AnnotationLoadBalancerIPs: "198.51.100.4"}
			}),
			wantErr: `spec.loadBalancerIP "198.51.100.3" and annotation metallb.universe.tf/loadBalancerIPs "198.51.100.4": set only one of them`,
		},
		{
			name:    "not an address",
			svc:     service(func(s *v1.Service) { s.Spec.LoadBalancerIP = "198.51.100.300" }),
			wantErr: `spec.loadBalancerIP "198.51.100.300": "198.51.100.300" is not an IP address`,
		},
		{
			name: "two of one family",
			svc: service(func(s *v1.Service) {
				s.Annotations = map[string]string{AnnotationLoadBalancerIPs: "198.51.100.3,198.51.100.4"}
			}),
			wantErr: `more than one IPv4 address (198.51.100.3 and 198.51.100.4)`,
		},
		{
			name: "family the Service lacks",
			svc: service(func(s *v1.Service) {
				s.Annotations = map[string]string{AnnotationLoadBalancerIPs: "2001:db8::1"}
			}),
			wantErr: `annotation metallb.universe.tf/loadBalancerIPs "2001:db8::1": 2001:db8::1 is IPv6, which is not in spec.ipFamilies`,
		},
		{
			name: "empty element",
			svc: service(func(s *v1.Service) {
				s.Annotations = map[string]string{AnnotationLoadBalancerIPs: "198.51.100.3,"}
			}),
			wantErr: `"" is not an IP address`,
		},
		{
			name:    "bad family",
			svc:     service(func(s *v1.Service) { s.Spec.IPFamilies = []v1.IPFamily{"IPv5"} }),
			wantErr: `spec.ipFamilies[0] "IPv5": not IPv4 or IPv6`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := For(tt.svc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("For() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("For() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("For() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusFor(t *testing.T) {
	vip := v1.LoadBalancerIPModeVIP
	tests := []struct {
		name     string
		families []allocator.Family
		addrs    []string
		want     []v1.LoadBalancerIngress
	}{
		{
			name:     "IPv4",
			families: []allocator.Family{allocator.IPv4},
			addrs:    []string{"198.51.100.3"},
			want:     []v1.LoadBalancerIngress{{IP: "198.51.100.3", IPMode: &vip}},
		},
		{
			name:     "spec order, not allocation order",
			families: []allocator.Family{allocator.IPv6, allocator.IPv4},
			addrs:    []string{"198.51.100.3", "2001:db8::3"},
			want:     []v1.LoadBalancerIngress{{IP: "2001:db8::3", IPMode: &vip}, {IP: "198.51.100.3", IPMode: &vip}},
		},
		{
			name:     "prefer dual-stack that got one",
			families: []allocator.Family{allocator.IPv4, allocator.IPv6},
			addrs:    []string{"198.51.100.3"},
			want:     []v1.LoadBalancerIngress{{IP: "198.51.100.3", IPMode: &vip}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addrs []netip.Addr
			for _, s := range tt.addrs {
				addrs = append(addrs, netip.MustParseAddr(s))
			}
			got := Status(tt.families, addrs)
			if diff := cmp.Diff(tt.want, got.Ingress); diff != "" {
				t.Errorf("Status() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClaimFor(t *testing.T) {
	created := metav1.NewTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	withStatus := func(ips ...string) func(*v1.Service) {
		return func(s *v1.Service) {
			s.CreationTimestamp = created
			for _, ip := range ips {
				s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: ip})
			}
		}
	}
	tests := []struct {
		name   string
		svc    *v1.Service
		want   allocator.Claim
		wantOK bool
	}{
		{
			name: "no status",
			svc:  service(nil),
		},
		{
			name: "with a class",
			svc: service(func(s *v1.Service) {
				withStatus("198.51.100.3")(s)
				s.Spec.LoadBalancerClass = ptr("other.io/lb")
			}),
		},
		{
			name: "not a LoadBalancer",
			svc: service(func(s *v1.Service) {
				withStatus("198.51.100.3")(s)
				s.Spec.Type = v1.ServiceTypeClusterIP
			}),
		},
		{
			name: "preferences dropped, sharing kept",
			svc: service(func(s *v1.Service) {
				withStatus("198.51.100.3")(s)
				s.Annotations = map[string]string{AnnotationAddressPool: "p", AnnotationAllowSharedIP: "k", AnnotationLoadBalancerIPs: "198.51.100.9"}
			}),
			wantOK: true,
			want: allocator.Claim{
				Request: allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4}, SharingKey: "k",
					Ports: []allocator.Port{{Protocol: "TCP", Port: 80}}},
				Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.3")},
				Created:   created.Time,
			},
		},
		{
			name: "invalid spec still adopted",
			svc: service(func(s *v1.Service) {
				withStatus("198.51.100.3")(s)
				s.Spec.LoadBalancerIP = "nonsense"
			}),
			wantOK: true,
			want: allocator.Claim{
				Request:   allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4}},
				Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.3")},
				Created:   created.Time,
			},
		},
		{
			name: "dual-stack status",
			svc: service(func(s *v1.Service) {
				withStatus("2001:db8::3", "198.51.100.3")(s)
				s.Spec.IPFamilies = []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol}
				s.Spec.IPFamilyPolicy = ptr(v1.IPFamilyPolicyRequireDualStack)
			}),
			wantOK: true,
			want: allocator.Claim{
				Request: allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4, allocator.IPv6},
					FamilyPolicy: allocator.RequireDualStack, Ports: []allocator.Port{{Protocol: "TCP", Port: 80}}},
				Addresses: []netip.Addr{netip.MustParseAddr("2001:db8::3"), netip.MustParseAddr("198.51.100.3")},
				Created:   created.Time,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Claim(tt.svc)
			if ok != tt.wantOK {
				t.Fatalf("Claim() ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("Claim() (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzFor feeds annotation and spec values from the outside world through
// the translation: it must never panic, and an accepted request must be consistent.
func FuzzFor(f *testing.F) {
	f.Add("198.51.100.3", "", "pool", "key", "IPv4", "")
	f.Add("", "198.51.100.3,2001:db8::1", "", "", "IPv4,IPv6", "RequireDualStack")
	f.Add("", "2001:db8::1%eth0", "", "", "IPv6", "")
	f.Add("::ffff:198.51.100.3", "", "", "", "IPv4", "SingleStack")
	f.Add("", ",,", "", "", "IPv6,IPv6", "PreferDualStack")
	f.Fuzz(func(t *testing.T, lbIP, lbIPs, pool, key, families, policy string) {
		svc := service(func(s *v1.Service) {
			s.Spec.LoadBalancerIP = lbIP
			s.Annotations = map[string]string{AnnotationLoadBalancerIPs: lbIPs, AnnotationAddressPool: pool, AnnotationAllowSharedIP: key}
			s.Spec.IPFamilies = nil
			if families != "" {
				for _, f := range strings.Split(families, ",") {
					s.Spec.IPFamilies = append(s.Spec.IPFamilies, v1.IPFamily(f))
				}
			}
			if policy != "" {
				s.Spec.IPFamilyPolicy = ptr(v1.IPFamilyPolicy(policy))
			}
		})
		req, err := For(svc)
		if err != nil {
			return
		}
		if len(req.Families) == 0 || len(req.Families) > 2 {
			t.Fatalf("For() families = %v", req.Families)
		}
		seen := map[allocator.Family]bool{}
		for _, a := range req.Addresses {
			fam := FamilyOf(a)
			if seen[fam] || !a.IsValid() || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("For() addresses = %v", req.Addresses)
			}
			seen[fam] = true
		}
		st := Status(req.Families, req.Addresses)
		if len(st.Ingress) != len(req.Addresses) {
			t.Fatalf("Status() = %v for %v", st.Ingress, req.Addresses)
		}
	})
}
