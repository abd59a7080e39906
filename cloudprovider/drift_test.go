package cloudprovider

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/allocator"
	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/lbclass"
)

// driftService is a class-less LoadBalancer Service ns/name whose status shows shown.
func driftService(name string, shown ...string) *v1.Service {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: "7"},
		Spec: v1.ServiceSpec{
			Type:  v1.ServiceTypeLoadBalancer,
			Ports: []v1.ServicePort{{Protocol: v1.ProtocolTCP, Port: 80}},
		},
	}
	for _, s := range shown {
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: s})
	}
	return svc
}

func mustAddrs(ss ...string) []netip.Addr {
	var as []netip.Addr
	for _, s := range ss {
		as = append(as, netip.MustParseAddr(s))
	}
	return as
}

func TestDecideStatus(t *testing.T) {
	t.Parallel()
	shared := func(key string, port int32) func(*v1.Service) {
		return func(s *v1.Service) {
			s.Annotations = map[string]string{AnnotationAllowSharedIP: key}
			s.Spec.Ports = []v1.ServicePort{{Protocol: v1.ProtocolTCP, Port: port}}
		}
	}
	tests := []struct {
		name string
		// held are the allocator's assignments: Service name → addresses.
		held   map[string][]string
		shares map[string]string // Service name → sharing key of its assignment
		svc    *v1.Service
		mutate func(*v1.Service)
		want   *statusRepair // nil: no repair
	}{
		{
			name: "status shows its own address",
			held: map[string][]string{"ns/a": {"192.0.2.1"}},
			svc:  driftService("a", "192.0.2.1"),
		},
		{
			name: "dual-stack in the other order is the same",
			held: map[string][]string{"ns/a": {"192.0.2.1", "2001:db8::1"}},
			svc:  driftService("a", "2001:db8::1", "192.0.2.1"),
		},
		{
			name: "another Service's address: back to its own",
			held: map[string][]string{"ns/a": {"192.0.2.1"}, "ns/b": {"192.0.2.2"}},
			svc:  driftService("b", "192.0.2.1"),
			want: &statusRepair{Want: mustAddrs("192.0.2.2"), Conflicts: []heldElsewhere{{Address: netip.MustParseAddr("192.0.2.1"), Holder: "ns/a"}}},
		},
		{
			name: "another Service's address and it holds none: no address",
			held: map[string][]string{"ns/a": {"192.0.2.1"}},
			svc:  driftService("b", "192.0.2.1"),
			want: &statusRepair{Conflicts: []heldElsewhere{{Address: netip.MustParseAddr("192.0.2.1"), Holder: "ns/a"}}},
		},
		{
			name: "a free address: back to its own",
			held: map[string][]string{"ns/b": {"192.0.2.2"}},
			svc:  driftService("b", "192.0.2.9"),
			want: &statusRepair{Want: mustAddrs("192.0.2.2"), NotAllocated: mustAddrs("192.0.2.9")},
		},
		{
			name: "its own address plus a stray one",
			held: map[string][]string{"ns/a": {"192.0.2.1"}, "ns/b": {"192.0.2.2"}},
			svc:  driftService("b", "192.0.2.2", "192.0.2.1"),
			want: &statusRepair{Want: mustAddrs("192.0.2.2"), Conflicts: []heldElsewhere{{Address: netip.MustParseAddr("192.0.2.1"), Holder: "ns/a"}}},
		},
		{
			name:   "an address it may share, but not its own: not allocated",
			held:   map[string][]string{"ns/a": {"192.0.2.1"}, "ns/b": {"192.0.2.2"}},
			shares: map[string]string{"ns/a": "k", "ns/b": "k"},
			svc:    driftService("b", "192.0.2.1"),
			mutate: shared("k", 443),
			want:   &statusRepair{Want: mustAddrs("192.0.2.2"), NotAllocated: mustAddrs("192.0.2.1")},
		},
		{
			name:   "a shared address it holds",
			held:   map[string][]string{"ns/a": {"192.0.2.1"}, "ns/b": {"192.0.2.1"}},
			shares: map[string]string{"ns/a": "k", "ns/b": "k"},
			svc:    driftService("b", "192.0.2.1"),
			mutate: shared("k", 443),
		},
		{
			name:   "the same key but a common port conflicts",
			held:   map[string][]string{"ns/a": {"192.0.2.1"}, "ns/b": {"192.0.2.2"}},
			shares: map[string]string{"ns/a": "k", "ns/b": "k"},
			svc:    driftService("b", "192.0.2.1"),
			mutate: shared("k", 80),
			want:   &statusRepair{Want: mustAddrs("192.0.2.2"), Conflicts: []heldElsewhere{{Address: netip.MustParseAddr("192.0.2.1"), Holder: "ns/a"}}},
		},
		{
			name: "an empty status is the service controller's to write",
			held: map[string][]string{"ns/b": {"192.0.2.2"}},
			svc:  driftService("b"),
		},
		{
			name:   "being deleted",
			held:   map[string][]string{"ns/a": {"192.0.2.1"}},
			svc:    driftService("b", "192.0.2.1"),
			mutate: func(s *v1.Service) { s.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)} },
		},
		{
			name:   "with a loadBalancerClass",
			held:   map[string][]string{"ns/a": {"192.0.2.1"}},
			svc:    driftService("b", "192.0.2.1"),
			mutate: func(s *v1.Service) { c := "other"; s.Spec.LoadBalancerClass = &c },
		},
		{
			name:   "not a LoadBalancer",
			held:   map[string][]string{"ns/a": {"192.0.2.1"}},
			svc:    driftService("b", "192.0.2.1"),
			mutate: func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeClusterIP },
		},
		{
			name: "a hostname is not an address",
			held: map[string][]string{"ns/b": {"192.0.2.2"}},
			svc: func() *v1.Service {
				s := driftService("b", "192.0.2.2")
				s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{Hostname: "lb.example"})
				return s
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := allocator.New(&config.Config{Pools: []config.Pool{{
				Name: "p", Protocol: config.Layer2, AutoAssign: true,
				Ranges: []config.Range{
					{First: netip.MustParseAddr("192.0.2.0"), Last: netip.MustParseAddr("192.0.2.255")},
					{First: netip.MustParseAddr("2001:db8::"), Last: netip.MustParseAddr("2001:db8::ff")},
				},
			}}})
			var claims []allocator.Claim
			for name, held := range tt.held {
				port := int32(80) // ns/a on port 80, the others on 443
				if name != "ns/a" {
					port = 443
				}
				req := allocator.Request{Service: name, SharingKey: tt.shares[name], Ports: []allocator.Port{{Protocol: "TCP", Port: port}}}
				for _, h := range mustAddrs(held...) {
					req.Families = append(req.Families, familyOf(h))
				}
				if len(req.Families) == 2 {
					req.FamilyPolicy = allocator.PreferDualStack
				}
				claims = append(claims, allocator.Claim{Request: req, Addresses: mustAddrs(held...)})
			}
			if errs := a.Restore(claims); len(errs) > 0 {
				t.Fatalf("setup: %v", errs)
			}
			svc := tt.svc
			if tt.mutate != nil {
				tt.mutate(svc)
			}
			got, ok := decideStatus(svc, a, lbclass.Selector{})
			var gotp *statusRepair
			if ok {
				gotp = &got
			}
			if diff := cmp.Diff(tt.want, gotp, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Errorf("decideStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func familyOf(a netip.Addr) allocator.Family {
	if a.Is4() {
		return allocator.IPv4
	}
	return allocator.IPv6
}

func TestStatusRepairMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r    statusRepair
		want string
	}{
		{
			r:    statusRepair{Want: mustAddrs("192.0.2.2"), Conflicts: []heldElsewhere{{Address: netip.MustParseAddr("192.0.2.1"), Holder: "ns/a"}}},
			want: "status showed 192.0.2.1, held by ns/a: wrote 192.0.2.2, the Service's own address",
		},
		{
			r:    statusRepair{Conflicts: []heldElsewhere{{Address: netip.MustParseAddr("192.0.2.1"), Holder: "ns/a"}}, NotAllocated: mustAddrs("2001:db8::9")},
			want: "status showed 192.0.2.1, held by ns/a; 2001:db8::9, not allocated to this Service: wrote no address: the Service holds none, it gets one at its next sync",
		},
		{
			r:    statusRepair{Want: mustAddrs("192.0.2.2", "2001:db8::2"), NotAllocated: mustAddrs("192.0.2.9")},
			want: "status showed 192.0.2.9, not allocated to this Service: wrote 192.0.2.2 and 2001:db8::2, the Service's own addresses",
		},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.r.message()); diff != "" {
			t.Errorf("message (-want +got):\n%s", diff)
		}
	}
	if got := (statusRepair{NotAllocated: mustAddrs("192.0.2.9")}).reason(); got != repairNotAllocated {
		t.Errorf("reason = %q, want %q", got, repairNotAllocated)
	}
	if got := (statusRepair{Conflicts: []heldElsewhere{{}}}).reason(); got != repairAddressConflict {
		t.Errorf("reason = %q, want %q", got, repairAddressConflict)
	}
}

func TestStatusWritesDue(t *testing.T) {
	t.Parallel()
	var w statusWrites
	svc := driftService("a", "192.0.2.1")
	want := mustAddrs("192.0.2.2")
	if got := w.due(svc, want, time.Now()); got != 0 {
		t.Errorf("due with nothing expected = %v, want 0", got)
	}
	w.expect(svc, want)
	now := time.Now()
	if got := w.due(svc, want, now); got <= 0 || got > statusWriteGrace {
		t.Errorf("due right after expect = %v, want in (0, %v]", got, statusWriteGrace)
	}
	if got := w.due(svc, mustAddrs("192.0.2.3"), now); got != 0 {
		t.Errorf("due for other addresses = %v, want 0", got)
	}
	other := svc.DeepCopy()
	other.ResourceVersion = "8" // a node helper's condition: the service controller's write is still due
	w.landed(other)
	if got := w.due(other, want, now); got <= 0 {
		t.Errorf("due after another write to the Service = %v, want > 0", got)
	}
	written := driftService("a", "192.0.2.2") // the service controller's write landed
	w.landed(written)
	if got := w.due(svc, want, now); got != 0 {
		t.Errorf("due after the write landed = %v, want 0", got)
	}
	w.expect(svc, want)
	now = time.Now()
	if got := w.due(svc, want, now.Add(statusWriteGrace)); got != 0 {
		t.Errorf("due past the grace = %v, want 0", got)
	}
	w.prune(now.Add(statusWriteGrace + time.Second))
	if len(w.m) != 0 {
		t.Errorf("prune left %v", w.m)
	}
}
