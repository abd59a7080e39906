package conformance

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/labcluster"
)

// Case 8: kill -9 of the CCM under churn, restarted repeatedly: no address
// ever changes or is held by two live Services.
func TestCCMKilledUnderChurn(t *testing.T) {
	c := startCluster(t, labcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	newSvc := func(name string) *corev1.Service {
		s := labcluster.NewService("churn", name)
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
		s.Spec.Ports = s.Spec.Ports[:1]
		s.Spec.AllocateLoadBalancerNodePorts = ptrTo(false)
		return s
	}
	const stable = 60
	want := map[string]netip.Addr{}
	for i := 0; i < stable; i++ {
		name := fmt.Sprintf("stable-%d", i)
		if _, err := c.CreateService(ctx, newSvc(name)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < stable; i++ {
		name := fmt.Sprintf("stable-%d", i)
		addrs, err := c.WaitIngress(ctx, "churn", name)
		if err != nil {
			t.Fatal(err)
		}
		want[name] = addrs[0]
	}

	// Churn: create and delete Services all along.
	churnCtx, stopChurn := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; churnCtx.Err() == nil; i++ {
			name := fmt.Sprintf("churn-%d", i)
			if _, err := c.CreateService(churnCtx, newSvc(name)); err != nil {
				continue
			}
			if i >= 5 {
				_ = c.Admin.CoreV1().Services("churn").Delete(churnCtx, fmt.Sprintf("churn-%d", i-5), metav1.DeleteOptions{})
			}
		}
	}()

	const kills = 5
	for k := 0; k < kills; k++ {
		// Let the CCM work for a while, then kill it mid-flight.
		holdFor(t, 1500*time.Millisecond, 100*time.Millisecond, "stable addresses", func() error {
			return checkStable(ctx, c, want)
		})
		p := c.Proc("ccm-0")
		if err := p.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.Wait(ctx)
		if _, err := c.StartCCM(0); err != nil {
			t.Fatal(err)
		}
	}
	holdFor(t, 3*time.Second, 100*time.Millisecond, "stable addresses", func() error {
		return checkStable(ctx, c, want)
	})
	stopChurn()
	wg.Wait()
	if err := checkStable(ctx, c, want); err != nil {
		t.Fatal(err)
	}
}

// checkStable returns an error if a stable Service's address changed or if
// two live Services (not being deleted) hold one address.
func checkStable(ctx context.Context, c *labcluster.Cluster, want map[string]netip.Addr) error {
	list, err := c.Admin.CoreV1().Services("churn").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil // the apiserver is busy; the next check will see
	}
	holder := map[netip.Addr]string{}
	for i := range list.Items {
		s := &list.Items[i]
		addrs := labcluster.IngressAddrs(s)
		if w, ok := want[s.Name]; ok && (len(addrs) == 0 || addrs[0] != w) {
			return fmt.Errorf("service %s has %v, had %v", s.Name, addrs, w)
		}
		if s.DeletionTimestamp != nil {
			continue
		}
		for _, a := range addrs {
			if other, ok := holder[a]; ok {
				return fmt.Errorf("%v is held by both %s and %s", a, other, s.Name)
			}
			holder[a] = s.Name
		}
	}
	return nil
}
