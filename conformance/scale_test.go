package conformance

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/lab"
	"github.com/barelb/barelb/internal/labcluster"
)

// bulkPool is an IPv6 pool for the scale cases, on-link for the client.
const bulkPool = "- name: bulk\n  protocol: layer2\n  auto-assign: false\n  addresses: [\"2001:db8:0:1::/116\"]\n"

// Case 12: Service creation to first reply through its address, one at a
// time and a thousand at once.
func TestCreateToReachable(t *testing.T) {
	// $BARELB_PROFILE_DIR: CPU profiles of the apiserver and of one node
	// helper during the burst are written there.
	profileDir := os.Getenv("BARELB_PROFILE_DIR")
	var o labcluster.Options
	if profileDir != "" {
		o.APIServerArgs = []string{"--profiling=true"}
		o.HelperArgs = []string{"--profiling"}
	}
	c := startCluster(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := strings.Replace(labConfig(t), "address-pools:\n", "address-pools:\n"+bulkPool, 1)
	if err := c.ApplyConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := c.Lab.Client.AddRoute(ctx, netip.MustParsePrefix("2001:db8:0:1::/64")); err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, n := range c.Lab.Nodes {
		nodes = append(nodes, n.Name)
	}
	bulk := func(name string) *corev1.Service {
		s := annotate(labcluster.NewService("bulk", name), "metallb.universe.tf/address-pool", "bulk")
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
		s.Spec.Ports = s.Spec.Ports[:1]
		// A layer-2 load balancer needs no NodePorts, and allocating them
		// serialises Service creation on the apiserver's port bitmap.
		s.Spec.AllocateLoadBalancerNodePorts = ptrTo(false)
		return s
	}
	// reach creates a Service and returns the times from the create to its
	// address (polled every 20 ms) and to its first reply.
	reach := func(ctx context.Context, s *corev1.Service) (toAddress, toReply time.Duration, err error) {
		if err := c.SetEndpoints(ctx, s.Namespace, s.Name, nodes...); err != nil {
			return 0, 0, err
		}
		start := time.Now()
		if _, err := c.CreateService(ctx, s); err != nil {
			return 0, 0, err
		}
		addrs, err := c.WaitIngress(ctx, s.Namespace, s.Name)
		if err != nil {
			return 0, 0, err
		}
		toAddress = time.Since(start)
		if err := c.AddVIP(ctx, addrs[0]); err != nil {
			return 0, 0, err
		}
		if _, err := c.WaitReachable(ctx, addrs[0]); err != nil {
			return 0, 0, err
		}
		return toAddress, time.Since(start), nil
	}

	t.Run("one at a time", func(t *testing.T) {
		// The bulk pool was just added: a Service created before the CCM
		// has read it waits for the next retry, a second later (case 9
		// measures that). One Service first, not counted, makes sure the
		// pool is in force.
		if _, _, err := reach(ctx, bulk("warm-up")); err != nil {
			t.Fatal(err)
		}
		var toAddress, toReply []time.Duration
		for i := 0; i < 100; i++ {
			a, r, err := reach(ctx, bulk(fmt.Sprintf("seq-%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			toAddress = append(toAddress, a)
			toReply = append(toReply, r)
		}
		ap50, ap99, amax := record("create → address, one at a time", toAddress)
		p50, p99, max := record("create → reachable, one at a time", toReply)
		t.Logf("over %d Services one at a time: create → address p50 %v p99 %v max %v; create → reachable p50 %v p99 %v max %v",
			len(toReply), ap50, ap99, amax, p50, p99, max)
	})

	// The apiserver's own pace, for comparison: the same Services, but of a
	// load-balancer class that neither the service controller nor barelb
	// serves, so the apiserver only creates them (and barelb's watches see
	// them). They are deleted again before the burst.
	var baseline time.Duration
	t.Run("a thousand of another class", func(t *testing.T) {
		n := burstSize()
		start := time.Now()
		err := inParallel(n, 32, func(i int) error {
			s := bulk(fmt.Sprintf("other-%d", i))
			s.Namespace = "other-class"
			s.Spec.LoadBalancerClass = ptrTo("example.com/not-barelb")
			_, err := c.CreateService(ctx, s)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		baseline = time.Since(start)
		record("1,000 Services of another class: all created at the apiserver (total)", []time.Duration{baseline})
		t.Logf("the apiserver took %v to create %d Services that nothing serves", baseline, n)
		err = inParallel(n, 32, func(i int) error {
			return c.Admin.CoreV1().Services("other-class").Delete(ctx, fmt.Sprintf("other-%d", i), metav1.DeleteOptions{})
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a thousand at once", func(t *testing.T) {
		n := burstSize()
		// The client resolves every one of the addresses; the host's
		// neighbour table, shared by all namespaces, holds 1,024 entries by
		// default, and an overflow stalls resolution for a minute or more
		// (seen here once: p99 1m44s).
		restore, err := lab.RaiseNeighbourLimits(4*n + 1024)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := restore(); err != nil {
				t.Errorf("restoring the neighbour-table limits: %v", err)
			}
		})
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("burst-%d", i)
			if err := c.SetEndpoints(ctx, "bulk", names[i], nodes...); err != nil {
				t.Fatal(err)
			}
		}
		// Create them all at once, from many clients' worth of goroutines.
		if profileDir != "" {
			stop := profileBurst(ctx, t, c, profileDir)
			defer stop()
		}
		// Watch from before the first create, so that each Service is probed
		// as soon as it has its address, while the others are still being
		// created. A watch, not a list: listing 1,000 Services ten times a
		// second would load the apiserver more than barelb does.
		w, err := c.Admin.CoreV1().Services("bulk").Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		cpuBefore := c.CPUTimes()
		start := time.Now()
		// Unix nanoseconds at which each Service's create was sent; written
		// by the creating goroutines, read by the watch loop.
		created := make([]atomic.Int64, n)
		createErrs := make(chan error, 1)
		createsDone := make(chan time.Time, 1)
		wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
		defer wcancel()
		go func() {
			err := inParallel(n, 32, func(i int) error {
				created[i].Store(time.Now().UnixNano())
				_, err := c.CreateService(ctx, bulk(names[i]))
				return err
			})
			if err != nil {
				createErrs <- err
				wcancel() // stop waiting for the rest
			}
			close(createErrs)
			createsDone <- time.Now()
		}()
		// As each gets its address, put it on the nodes and ask through it.
		createToReachable := make([]time.Duration, n)
		addressToReachable := make([]time.Duration, n)
		var mu sync.Mutex
		pending := map[string]int{}
		for i, name := range names {
			pending[name] = i
		}
		var probes sync.WaitGroup
		probeErrs := make(chan error, n)
		for len(pending) > 0 && err == nil {
			select {
			case <-wctx.Done():
				err = wctx.Err()
			case ev, ok := <-w.ResultChan():
				if !ok {
					err = fmt.Errorf("watch closed")
					break
				}
				s, ok := ev.Object.(*corev1.Service)
				if !ok {
					continue
				}
				idx, ok := pending[s.Name]
				addrs := labcluster.IngressAddrs(s)
				if !ok || len(addrs) == 0 {
					continue
				}
				seen := time.Now()
				delete(pending, s.Name)
				probes.Add(1)
				go func() {
					defer probes.Done()
					if err := c.AddVIP(ctx, addrs[0]); err != nil {
						probeErrs <- err
						return
					}
					if _, err := c.WaitReachable(ctx, addrs[0]); err != nil {
						probeErrs <- err
						return
					}
					now := time.Now()
					mu.Lock()
					createToReachable[idx] = now.Sub(time.Unix(0, created[idx].Load()))
					addressToReachable[idx] = now.Sub(seen)
					mu.Unlock()
				}()
			}
		}
		for err := range createErrs {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatalf("%d Services got no address: %v", len(pending), err)
		}
		allocated := time.Since(start)
		creates := (<-createsDone).Sub(start)
		probes.Wait()
		total := time.Since(start)
		close(probeErrs)
		for err := range probeErrs {
			t.Fatal(err)
		}
		for name, d := range c.CPUTimes() {
			t.Logf("CPU time of %s during the burst: %v", name, d-cpuBefore[name])
		}
		p50, p99, max := record("create → reachable, 1,000 at once", createToReachable)
		ap50, ap99, amax := record("address written → reachable, 1,000 at once", addressToReachable)
		record("1,000 Services: all created at the apiserver (total)", []time.Duration{creates})
		record("1,000 Services: all allocated (total)", []time.Duration{allocated})
		record("1,000 Services: all reachable (total)", []time.Duration{total})
		t.Logf("(the same creates of another class took %v)", baseline)
		t.Logf("1,000 Services at once: the apiserver took %v to accept the creates; all allocated in %v, all reachable in %v (%v after the last create); create → reachable p50 %v p99 %v max %v; address → reachable p50 %v p99 %v max %v",
			creates, allocated, total, total-creates, p50, p99, max, ap50, ap99, amax)
		// The goal is 10 s. On this 2-core machine the apiserver itself
		// creates only tens of Services a second under load, so the bound
		// catches Services that never get served, not missed goals; the
		// figures go to the report.
		if total > 3*time.Minute {
			t.Errorf("1,000 Services took %v to be reachable, want ≤ 3 min here (goal 10 s)", total)
		}
	})
}

// inParallel calls f(0) … f(n-1) from workers goroutines and returns the
// first error.
func inParallel(n, workers int, f func(i int) error) error {
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// burstSize is the number of Services of the burst case: 1,000, or
// $BARELB_BURST.
func burstSize() int {
	if n := atoi(os.Getenv("BARELB_BURST")); n > 0 {
		return n
	}
	return 1000
}

// profileBurst collects CPU profiles of the apiserver and of the first node's
// helper into dir, for 20 s or until the returned function is called.
func profileBurst(ctx context.Context, t *testing.T, c *labcluster.Cluster, dir string) (wait func()) {
	var wg sync.WaitGroup
	save := func(name string, get func() ([]byte, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := get()
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
			}
			if err != nil {
				t.Logf("profile %s: %v", name, err)
			}
		}()
	}
	save("kube-apiserver.pprof", func() ([]byte, error) {
		return c.Admin.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "20").DoRaw(ctx)
	})
	h := c.Lab.Nodes[0]
	save("barelb-nodehelper.pprof", func() ([]byte, error) {
		hc := &http.Client{Transport: &http.Transport{DialContext: h.DialContext}}
		resp, err := hc.Get("http://" + netip.AddrPortFrom(h.IPv4.Addr(), 7473).String() + "/debug/pprof/profile?seconds=20")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	})
	return wg.Wait
}
