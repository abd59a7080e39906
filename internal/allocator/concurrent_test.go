package allocator

import (
	"fmt"
	"sync"
	"testing"

	"github.com/barelb/barelb/internal/config"
)

// TestConcurrentUse runs every method from several goroutines; run with
// -race. Afterwards no address may be held twice.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{Pools: []config.Pool{pool(t, "a", "198.51.100.0/26", "2001:db8::/122")}}
	a := New(cfg)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				name := fmt.Sprintf("g%d/s%d", g, i%20)
				switch i % 7 {
				case 0:
					a.Release(name)
				case 1:
					a.Stats()
					a.Orphans()
				case 2:
					if as, ok := a.Assignment(name); ok {
						a.PoolOf(as.Addresses[0])
					}
				case 3:
					if g == 0 {
						a.SetConfig(cfg)
					}
				default:
					_, _ = a.Allocate(Request{Service: name, Families: []Family{IPv4, IPv6}, FamilyPolicy: PreferDualStack})
				}
			}
		})
	}
	wg.Wait()
	if err := a.verify(); err != nil {
		t.Fatal(err)
	}
	for _, st := range a.Stats() {
		if st.InUse+st.Free != st.Size {
			t.Errorf("stats %+v do not add up", st)
		}
	}
}
