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
	"github.com/barelb/barelb/internal/lbclass"
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
			wantErr: `spec.loadBalancerIP "198.51.100.3" and annotation metallb.io/loadBalancerIPs "198.51.100.4": set only one of them`,
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
			wantErr: `annotation metallb.io/loadBalancerIPs "2001:db8::1": 2001:db8::1 is IPv6, which is not in spec.ipFamilies`,
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

// TestRequestForBothPrefixes covers the settings under the metallb.io and the
// metallb.universe.tf prefix: either alone, both agreeing, both disagreeing.
func TestRequestForBothPrefixes(t *testing.T) {
	plain := func(mutate func(*allocator.Request)) allocator.Request {
		r := allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4},
			Ports: []allocator.Port{{Protocol: "TCP", Port: 80}}}
		if mutate != nil {
			mutate(&r)
		}
		return r
	}
	dual := func(s *v1.Service) {
		s.Spec.IPFamilies = []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol}
		s.Spec.IPFamilyPolicy = ptr(v1.IPFamilyPolicyRequireDualStack)
	}
	v4, v6 := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7")
	tests := []struct {
		name        string
		annotations map[string]string
		mutate      func(*v1.Service)
		want        allocator.Request
		wantErr     string // the whole message; empty means no error
	}{
		{
			name: "legacy prefix alone",
			annotations: map[string]string{LegacyAnnotationAddressPool: "p", LegacyAnnotationAllowSharedIP: "k",
				LegacyAnnotationLoadBalancerIPs: "198.51.100.7"},
			want: plain(func(r *allocator.Request) {
				r.Pool, r.SharingKey, r.Addresses = "p", "k", []netip.Addr{v4}
			}),
		},
		{
			name: "metallb.io prefix alone",
			annotations: map[string]string{AnnotationAddressPool: "p", AnnotationAllowSharedIP: "k",
				AnnotationLoadBalancerIPs: "198.51.100.7"},
			want: plain(func(r *allocator.Request) {
				r.Pool, r.SharingKey, r.Addresses = "p", "k", []netip.Addr{v4}
			}),
		},
		{
			name: "both agree, compared as parsed",
			annotations: map[string]string{
				AnnotationAddressPool: "p", LegacyAnnotationAddressPool: " p ",
				AnnotationAllowSharedIP: "k", LegacyAnnotationAllowSharedIP: "k\n",
				AnnotationLoadBalancerIPs: "198.51.100.7,2001:db8::7", LegacyAnnotationLoadBalancerIPs: " 2001:db8:0::7 , ::ffff:198.51.100.7",
			},
			mutate: dual,
			want: plain(func(r *allocator.Request) {
				r.Pool, r.SharingKey = "p", "k"
				r.Families, r.FamilyPolicy = []allocator.Family{allocator.IPv4, allocator.IPv6}, allocator.RequireDualStack
				r.Addresses = []netip.Addr{v4, v6}
			}),
		},
		{
			name:        "an empty value is an absent one",
			annotations: map[string]string{AnnotationAddressPool: " ", LegacyAnnotationAddressPool: "p", AnnotationLoadBalancerIPs: "198.51.100.7", LegacyAnnotationLoadBalancerIPs: ""},
			want:        plain(func(r *allocator.Request) { r.Pool, r.Addresses = "p", []netip.Addr{v4} }),
		},
		{
			name:        "pools disagree",
			annotations: map[string]string{AnnotationAddressPool: "a", LegacyAnnotationAddressPool: "b"},
			wantErr:     `annotations metallb.io/address-pool "a" and metallb.universe.tf/address-pool "b": conflicting values; remove one or make them agree`,
		},
		{
			name:        "sharing keys disagree",
			annotations: map[string]string{AnnotationAllowSharedIP: "k1", LegacyAnnotationAllowSharedIP: "k2"},
			wantErr:     `annotations metallb.io/allow-shared-ip "k1" and metallb.universe.tf/allow-shared-ip "k2": conflicting values; remove one or make them agree`,
		},
		{
			name:        "addresses disagree",
			annotations: map[string]string{AnnotationLoadBalancerIPs: "198.51.100.7", LegacyAnnotationLoadBalancerIPs: "198.51.100.8"},
			wantErr:     `annotations metallb.io/loadBalancerIPs "198.51.100.7" and metallb.universe.tf/loadBalancerIPs "198.51.100.8": conflicting values; remove one or make them agree`,
		},
		{
			name:        "one address set is a subset of the other",
			annotations: map[string]string{AnnotationLoadBalancerIPs: "198.51.100.7", LegacyAnnotationLoadBalancerIPs: "198.51.100.7,2001:db8::7"},
			mutate:      dual,
			wantErr:     `annotations metallb.io/loadBalancerIPs "198.51.100.7" and metallb.universe.tf/loadBalancerIPs "198.51.100.7,2001:db8::7": conflicting values; remove one or make them agree`,
		},
		{
			name:        "legacy value invalid",
			annotations: map[string]string{AnnotationLoadBalancerIPs: "198.51.100.7", LegacyAnnotationLoadBalancerIPs: "198.51.100.700"},
			wantErr:     `annotation metallb.universe.tf/loadBalancerIPs "198.51.100.700": "198.51.100.700" is not an IP address`,
		},
		{
			name:        "spec.loadBalancerIP and the legacy annotation",
			annotations: map[string]string{LegacyAnnotationLoadBalancerIPs: "198.51.100.7"},
			mutate:      func(s *v1.Service) { s.Spec.LoadBalancerIP = "198.51.100.7" },
			wantErr:     `spec.loadBalancerIP "198.51.100.7" and annotation metallb.universe.tf/loadBalancerIPs "198.51.100.7": set only one of them`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service(func(s *v1.Service) {
				s.Annotations = tt.annotations
				if tt.mutate != nil {
					tt.mutate(s)
				}
			})
			got, err := For(svc)
			var gotErr string
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Fatalf("For() error (-want +got):\n%s", diff)
			}
			if err != nil {
				return
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
		served lbclass.Selector // zero: the class-less Services
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
			name: "with another class than the one served",
			svc: service(func(s *v1.Service) {
				withStatus("198.51.100.3")(s)
				s.Spec.LoadBalancerClass = ptr("other.io/lb")
			}),
			served: lbclass.Selector{Class: "example.com/barelb"},
		},
		{
			name: "with the class served",
			svc: service(func(s *v1.Service) {
				withStatus("198.51.100.3")(s)
				s.Spec.LoadBalancerClass = ptr("example.com/barelb")
			}),
			served: lbclass.Selector{Class: "example.com/barelb", SkipClassless: true},
			wantOK: true,
			want: allocator.Claim{
				Request:   allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4}, Ports: []allocator.Port{{Protocol: "TCP", Port: 80}}},
				Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.3")},
				Created:   created.Time,
			},
		},
		{
			name: "class-less when class-less Services are skipped",
			svc: service(func(s *v1.Service) {
				withStatus("198.51.100.3")(s)
			}),
			served: lbclass.Selector{Class: "example.com/barelb", SkipClassless: true},
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
			name: "conflicting sharing keys adopted with the legacy one",
			svc: service(func(s *v1.Service) {
				withStatus("198.51.100.3")(s)
				s.Annotations = map[string]string{AnnotationAllowSharedIP: "new", LegacyAnnotationAllowSharedIP: " old "}
			}),
			wantOK: true,
			want: allocator.Claim{
				Request:   allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4}, SharingKey: "old"},
				Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.3")},
				Created:   created.Time,
			},
		},
		{
			name: "agreeing sharing keys on an invalid spec",
			svc: service(func(s *v1.Service) {
				withStatus("198.51.100.3")(s)
				s.Spec.LoadBalancerIP = "nonsense"
				s.Annotations = map[string]string{AnnotationAllowSharedIP: "k", LegacyAnnotationAllowSharedIP: "k"}
			}),
			wantOK: true,
			want: allocator.Claim{
				Request:   allocator.Request{Service: "default/web", Families: []allocator.Family{allocator.IPv4}, SharingKey: "k"},
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
			got, ok := Claim(tt.svc, tt.served)
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
// the translation: it must never panic, an accepted request must be
// consistent, and a setting given under both prefixes must mean what it means
// under either one alone.
func FuzzFor(f *testing.F) {
	f.Add("198.51.100.3", "", "pool", "key", "IPv4", "", "", "", "")
	f.Add("", "198.51.100.3,2001:db8::1", "", "", "IPv4,IPv6", "RequireDualStack", "", "", "")
	f.Add("", "2001:db8::1%eth0", "", "", "IPv6", "", "", "", "")
	f.Add("::ffff:198.51.100.3", "", "", "", "IPv4", "SingleStack", "", "", "")
	f.Add("", ",,", "", "", "IPv6,IPv6", "PreferDualStack", "", "", "")
	f.Add("", "198.51.100.3,2001:db8::1", "p", "k", "IPv6,IPv4", "RequireDualStack", " 2001:db8::1,::ffff:198.51.100.3", "p ", "k")
	f.Add("", "198.51.100.3", "a", "k1", "IPv4", "", "198.51.100.4", "b", "k2")
	f.Add("", "", "", "", "IPv4", "", "198.51.100.3", "legacy", "")
	f.Fuzz(func(t *testing.T, lbIP, lbIPs, pool, key, families, policy, legacyIPs, legacyPool, legacyKey string) {
		build := func(annotations map[string]string) *v1.Service {
			return service(func(s *v1.Service) {
				s.Spec.LoadBalancerIP = lbIP
				s.Annotations = annotations
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
		}
		both := map[string]string{
			AnnotationLoadBalancerIPs: lbIPs, AnnotationAddressPool: pool, AnnotationAllowSharedIP: key,
			LegacyAnnotationLoadBalancerIPs: legacyIPs, LegacyAnnotationAddressPool: legacyPool, LegacyAnnotationAllowSharedIP: legacyKey,
		}
		req, err := For(build(both))
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
		// Keeping one key of each setting that has a value (the metallb.io one,
		// then the legacy one) must give the same request.
		setAddrs := cmp.Comparer(func(a, b []netip.Addr) bool { return SameAddresses(a, b) })
		for _, keep := range []func(cur, legacy string) string{
			func(cur, legacy string) string {
				if strings.TrimSpace(cur) != "" {
					return AnnotationPrefix
				}
				return LegacyAnnotationPrefix
			},
			func(cur, legacy string) string {
				if strings.TrimSpace(legacy) != "" {
					return LegacyAnnotationPrefix
				}
				return AnnotationPrefix
			},
		} {
			one := map[string]string{}
			for _, kv := range [][3]string{
				{"loadBalancerIPs", lbIPs, legacyIPs}, {"address-pool", pool, legacyPool}, {"allow-shared-ip", key, legacyKey},
			} {
				prefix := keep(kv[1], kv[2])
				one[prefix+kv[0]] = both[prefix+kv[0]]
			}
			alone, err := For(build(one))
			if err != nil {
				t.Fatalf("For(%v) accepted, For(%v) error = %v", both, one, err)
			}
			if diff := cmp.Diff(req, alone, setAddrs); diff != "" {
				t.Fatalf("For(%v) and For(%v) differ (-both +one):\n%s", both, one, diff)
			}
		}
	})
}
