package allocator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/internal/config"
)

// propRanges are small, non-overlapping ranges, so that pools run out and
// avoid-buggy-ips matters (one crosses a /24 boundary).
var propRanges = []string{
	"198.51.100.0/28",
	"198.51.100.16-198.51.100.40",
	"198.51.100.250-198.51.101.5",
	"203.0.113.0/29",
	"192.0.2.0/30",
	"2001:db8::/125",
	"2001:db8::100-2001:db8::10f",
	"2001:db8:1::/126",
}

func randomConfig(t testing.TB, r *rand.Rand) *config.Config {
	cfg := &config.Config{}
	perm := r.Perm(len(propRanges))
	npools := 1 + r.IntN(4)
	for i := range npools {
		p := config.Pool{
			Name:          fmt.Sprintf("p%d", r.IntN(6)),
			Protocol:      config.Layer2,
			AutoAssign:    r.IntN(4) != 0,
			AvoidBuggyIPs: r.IntN(3) == 0,
		}
		if slices.ContainsFunc(cfg.Pools, func(q config.Pool) bool { return q.Name == p.Name }) {
			p.Name = fmt.Sprintf("q%d", i)
		}
		for range 1 + r.IntN(3) {
			if len(perm) == 0 {
				break
			}
			p.Ranges = append(p.Ranges, rng(t, propRanges[perm[0]]))
			perm = perm[1:]
		}
		cfg.Pools = append(cfg.Pools, p)
	}
	return cfg
}

// allAddrs lists every address of the universe, for requests and recounts.
func allAddrs(t testing.TB) []netip.Addr {
	var as []netip.Addr
	for _, s := range propRanges {
		r := rng(t, s)
		for a := r.First; a.Compare(r.Last) <= 0; a = a.Next() {
			as = append(as, a)
		}
	}
	return append(as, netip.MustParseAddr("198.51.100.200"), netip.MustParseAddr("2001:db8::ffff"))
}

// refPool returns the pool of cfg that hands out addr, by brute force.
func refPool(cfg *config.Config, addr netip.Addr) (config.Pool, bool) {
	for _, p := range cfg.Pools {
		for _, r := range p.Ranges {
			if r.Contains(addr) {
				if p.AvoidBuggyIPs && addr.Is4() && (addr.As4()[3] == 0 || addr.As4()[3] == 255) {
					return config.Pool{}, false
				}
				return p, true
			}
		}
	}
	return config.Pool{}, false
}

func randomRequest(r *rand.Rand, svc string, cfg *config.Config, universe []netip.Addr) Request {
	req := Request{Service: svc}
	switch r.IntN(4) {
	case 0:
		req.Families = []Family{IPv6}
	case 1:
		req.Families = []Family{IPv4, IPv6}
		req.FamilyPolicy = FamilyPolicy(r.IntN(3))
	case 2:
		req.Families = []Family{IPv6, IPv4}
		req.FamilyPolicy = FamilyPolicy(1 + r.IntN(2))
	}
	if r.IntN(4) == 0 && len(cfg.Pools) > 0 {
		req.Pool = cfg.Pools[r.IntN(len(cfg.Pools))].Name
	}
	if r.IntN(4) == 0 {
		req.Addresses = []netip.Addr{universe[r.IntN(len(universe))]}
	}
	if r.IntN(2) == 0 {
		req.SharingKey = []string{"k1", "k2"}[r.IntN(2)]
		req.Ports = []Port{{Protocol: []string{"TCP", "UDP"}[r.IntN(2)], Port: int32(80 + r.IntN(3))}}
		req.TrafficPolicyLocal = r.IntN(3) == 0
		req.Selector = []string{"app=a", "app=b"}[r.IntN(2)]
	}
	return req
}

// compatible is the sharing rule, written out independently.
func compatible(x, y Request) bool {
	if x.SharingKey == "" || x.SharingKey != y.SharingKey || x.TrafficPolicyLocal != y.TrafficPolicyLocal {
		return false
	}
	if x.TrafficPolicyLocal && x.Selector != y.Selector {
		return false
	}
	for _, p := range x.Ports {
		if slices.Contains(y.Ports, p) {
			return false
		}
	}
	return true
}

type propModel struct {
	a    *Allocator
	cfg  *config.Config
	reqs map[string]Request // last request each holder succeeded with (or was restored with)
}

// propSeeds fixed seeds of 1500 random steps each: allocate (auto, by pool,
// by address, sharing, dual-stack), repeat, release, config change, restart.
const propSeeds = 40

func TestProperties(t *testing.T) {
	t.Parallel()
	universe := allAddrs(t)
	seeds := propSeeds
	if testing.Short() {
		seeds = 8
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 0x5eed))
			m := &propModel{cfg: randomConfig(t, r), reqs: map[string]Request{}}
			m.a = New(m.cfg)
			for i := range 1500 {
				svc := fmt.Sprintf("ns/s%d", r.IntN(25))
				desc := m.step(t, r, svc, universe)
				if err := m.check(m.a, universe); err != nil {
					t.Fatalf("step %d (%s): %v", i, desc, err)
				}
			}
		})
	}
}

// FuzzProperties runs the property test's random steps from fuzzed seeds.
func FuzzProperties(f *testing.F) {
	universe := allAddrs(f)
	for seed := range uint64(4) {
		f.Add(seed, uint64(0x5eed))
	}
	f.Fuzz(func(t *testing.T, s1, s2 uint64) {
		r := rand.New(rand.NewPCG(s1, s2))
		m := &propModel{cfg: randomConfig(t, r), reqs: map[string]Request{}}
		m.a = New(m.cfg)
		for i := range 300 {
			desc := m.step(t, r, fmt.Sprintf("ns/s%d", r.IntN(25)), universe)
			if err := m.check(m.a, universe); err != nil {
				t.Fatalf("step %d (%s): %v", i, desc, err)
			}
		}
	})
}

func (m *propModel) step(t *testing.T, r *rand.Rand, svc string, universe []netip.Addr) string {
	a := m.a
	before, held := a.Assignment(svc)
	switch op := r.IntN(20); {
	case op < 3:
		if got := a.Release(svc); got != held {
			t.Fatalf("Release(%s) = %v, held %v", svc, got, held)
		}
		delete(m.reqs, svc)
		return "release " + svc
	case op < 5 && held:
		req := m.reqs[svc]
		got, err := a.Allocate(req)
		if err != nil {
			t.Fatalf("repeating the request of %s: %v", svc, err)
		}
		if !sameAssignment(before, got) {
			t.Fatalf("repeating the request of %s changed it (-before +after):\n%s", svc, cmp.Diff(before, got, addrComparer))
		}
		return "repeat " + svc
	case op == 5:
		all := m.snapshot(a)
		m.cfg = randomConfig(t, r)
		a.SetConfig(m.cfg)
		for s, want := range all {
			got, _ := a.Assignment(s)
			if !slices.Equal(want.Addresses, got.Addresses) {
				t.Fatalf("SetConfig moved %s (-before +after):\n%s", s, cmp.Diff(want.Addresses, got.Addresses, addrComparer))
			}
		}
		return "config"
	case op == 6:
		// Restart: a fresh allocator adopts every assignment, shuffled.
		all := m.snapshot(a)
		var claims []Claim
		for s, as := range all {
			claims = append(claims, Claim{Request: m.reqs[s], Addresses: as.Addresses})
		}
		r.Shuffle(len(claims), func(i, j int) { claims[i], claims[j] = claims[j], claims[i] })
		b := New(m.cfg)
		if errs := b.Restore(claims); len(errs) > 0 {
			t.Fatalf("Restore of a consistent state: %v", errs)
		}
		if got := m.snapshot(b); !cmp.Equal(all, got, orphanPoolsIgnored(m.cfg)) {
			t.Fatalf("Restore changed assignments (-before +after):\n%s", cmp.Diff(all, got, addrComparer))
		}
		m.a = b
		return "restore"
	}
	req := randomRequest(r, svc, m.cfg, universe)
	got, err := a.Allocate(req)
	after, _ := a.Assignment(svc)
	if err != nil {
		var re *RefusalError
		if !errors.As(err, &re) || re.Reason.String() == "unknown" || re.Message == "" {
			t.Fatalf("Allocate(%+v) = %v, not a refusal", req, err)
		}
		if !sameAssignment(before, after) {
			t.Fatalf("failed Allocate(%+v) changed the assignment (-before +after):\n%s", req, cmp.Diff(before, after, addrComparer))
		}
		return fmt.Sprintf("allocate %+v: %v", req, err)
	}
	if !sameAssignment(got, after) {
		t.Fatalf("Allocate and Assignment disagree (-allocate +assignment):\n%s", cmp.Diff(got, after, addrComparer))
	}
	m.reqs[svc] = req
	if !held {
		m.checkFresh(t, req, got, a)
	}
	return fmt.Sprintf("allocate %+v: %v", req, got.Addresses)
}

// checkFresh checks a first allocation against the rules, by brute force.
func (m *propModel) checkFresh(t *testing.T, req Request, got Assignment, a *Allocator) {
	t.Helper()
	for _, ad := range got.Addresses {
		p, ok := refPool(m.cfg, ad)
		if !ok || p.Name != got.Pool {
			t.Fatalf("fresh %+v got %s, which pool %q does not hand out", req, ad, got.Pool)
		}
		if req.Pool != "" && p.Name != req.Pool {
			t.Fatalf("fresh %+v got %s outside the requested pool", req, ad)
		}
	}
	for _, w := range req.Addresses {
		if !slices.Contains(got.Addresses, w) {
			t.Fatalf("fresh %+v did not get its requested address: %v", req, got.Addresses)
		}
	}
	if req.Pool != "" || len(req.Addresses) > 0 || req.SharingKey != "" || len(req.Families) > 1 || len(got.Addresses) != 1 {
		return
	}
	// Auto-assign of one family: the first auto-assign pool with a free
	// address, the lowest free address in declared range order.
	f := IPv4
	if len(req.Families) == 1 {
		f = req.Families[0]
	}
	held := map[netip.Addr]bool{}
	for s := range m.reqs {
		if s == req.Service {
			continue
		}
		as, _ := a.Assignment(s)
		for _, ad := range as.Addresses {
			held[ad] = true
		}
	}
	for _, p := range m.cfg.Pools {
		if !p.AutoAssign {
			continue
		}
		for _, r := range p.Ranges {
			if r.First.Is4() != (f == IPv4) {
				continue
			}
			for ad := r.First; ad.IsValid() && ad.Compare(r.Last) <= 0; ad = ad.Next() {
				if rp, ok := refPool(m.cfg, ad); ok && rp.Name == p.Name && !held[ad] {
					if ad != got.Addresses[0] {
						t.Fatalf("fresh %+v got %s, want the lowest free %s", req, got.Addresses[0], ad)
					}
					return
				}
			}
		}
	}
	t.Fatalf("fresh %+v got %s, but every pool is full", req, got.Addresses[0])
}

func (m *propModel) snapshot(a *Allocator) map[string]Assignment {
	all := map[string]Assignment{}
	for s := range m.reqs {
		if as, ok := a.Assignment(s); ok {
			all[s] = as
		}
	}
	return all
}

// check verifies the invariants after a step.
func (m *propModel) check(a *Allocator, universe []netip.Addr) error {
	if err := a.verify(); err != nil {
		return err
	}
	holders := map[netip.Addr][]string{}
	var wantOrphans []Orphan
	for s := range m.reqs {
		as, ok := a.Assignment(s)
		if !ok {
			return fmt.Errorf("%s holds nothing", s)
		}
		for _, ad := range as.Addresses {
			holders[ad] = append(holders[ad], s)
			if _, ok := refPool(m.cfg, ad); !ok {
				wantOrphans = append(wantOrphans, Orphan{Service: s, Address: ad})
			}
		}
	}
	// No address held by two services that may not share it.
	for ad, hs := range holders {
		for i := range hs {
			for j := i + 1; j < len(hs); j++ {
				if !compatible(m.reqs[hs[i]], m.reqs[hs[j]]) {
					return fmt.Errorf("%s held by %s and %s, which may not share", ad, hs[i], hs[j])
				}
			}
		}
	}
	// Every held address in a pool or reported as an orphan.
	slices.SortFunc(wantOrphans, func(x, y Orphan) int {
		if x.Service != y.Service {
			return map[bool]int{true: -1, false: 1}[x.Service < y.Service]
		}
		return x.Address.Compare(y.Address)
	})
	if got := a.Orphans(); !slices.Equal(wantOrphans, got) {
		return fmt.Errorf("Orphans (-want +got):\n%s", cmp.Diff(wantOrphans, got, addrComparer))
	}
	// Stats against a recount.
	var want []PoolStats
	for _, p := range m.cfg.Pools {
		for _, f := range []Family{IPv4, IPv6} {
			has := false
			var st PoolStats
			for _, r := range p.Ranges {
				if r.First.Is4() == (f == IPv4) {
					has = true
				}
			}
			if !has {
				continue
			}
			st = PoolStats{Pool: p.Name, Family: f}
			for _, ad := range universe {
				if ad.Is4() != (f == IPv4) {
					continue
				}
				if rp, ok := refPool(m.cfg, ad); ok && rp.Name == p.Name {
					st.Size++
					if len(holders[ad]) > 0 {
						st.InUse++
					}
				}
			}
			st.Free = st.Size - st.InUse
			want = append(want, st)
		}
	}
	if got := a.Stats(); !slices.Equal(want, got) {
		return fmt.Errorf("Stats (-recount +got):\n%s", cmp.Diff(want, got))
	}
	return nil
}

// orphanPoolsIgnored compares the Pool of assignments whose first address is
// orphaned as equal: an orphan's pool is a memory, not a fact of the config.
func orphanPoolsIgnored(cfg *config.Config) cmp.Option {
	return cmp.Comparer(func(x, y Assignment) bool {
		if !slices.Equal(x.Addresses, y.Addresses) {
			return false
		}
		if len(x.Addresses) > 0 {
			if _, ok := refPool(cfg, x.Addresses[0]); !ok {
				return true
			}
		}
		return x.Pool == y.Pool
	})
}

func sameAssignment(x, y Assignment) bool {
	return x.Pool == y.Pool && slices.Equal(x.Addresses, y.Addresses)
}
