package conformance

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// TestExistingCluster runs the allocation-only cases (1, 7 and 9 without the
// layer-2 checks) against a cluster where barelb is installed:
// make conformance KUBECONFIG=path. It works in a namespace of its own and
// deletes it afterwards.
func TestExistingCluster(t *testing.T) {
	kubeconfig := os.Getenv("BARELB_KUBECONFIG")
	if kubeconfig == "" {
		t.Skip("no existing cluster: run make conformance KUBECONFIG=path")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmNS, cmName := "barelb-system", "config"
	if v := os.Getenv("BARELB_CONFIG_MAP_NAMESPACE"); v != "" {
		cmNS = v
	}
	cm, err := client.CoreV1().ConfigMaps(cmNS).Get(ctx, cmName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("barelb's configuration: %v", err)
	}
	bcfg, _, err := config.ParseConfigMapData(cm.Data, "config")
	if err != nil {
		t.Fatalf("barelb's configuration is invalid: %v", err)
	}

	ns := fmt.Sprintf("barelb-conformance-%d", time.Now().UnixNano()%1_000_000)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	create := func(s *corev1.Service) []string {
		t.Helper()
		s.Namespace = ns
		if _, err := client.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var ips []string
		err := poll.Until(ctx, 100*time.Millisecond, func() (bool, error) {
			got, err := client.CoreV1().Services(ns).Get(ctx, s.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, a := range labcluster.IngressAddrs(got) {
				ips = append(ips, a.String())
			}
			return len(ips) > 0, nil
		})
		if err != nil {
			t.Fatalf("Service %s/%s got no address: %v", ns, s.Name, err)
		}
		return ips
	}

	t.Run("auto-assigned from an auto-assign pool", func(t *testing.T) {
		ips := create(labcluster.NewService(ns, "auto"))
		a := mustAddr(ips[0])
		p, ok := bcfg.PoolFor(a)
		if !ok || !p.AutoAssign {
			t.Errorf("%v is not in an auto-assign pool of the configuration", a)
		}
	})
	t.Run("shared address", func(t *testing.T) {
		a := labcluster.NewService(ns, "share-a")
		a.Spec.Ports = a.Spec.Ports[:1]
		annotate(a, "metallb.universe.tf/allow-shared-ip", "conformance")
		ipA := create(a)[0]
		b := labcluster.NewService(ns, "share-b")
		b.Spec.Ports = b.Spec.Ports[1:]
		annotate(b, "metallb.universe.tf/allow-shared-ip", "conformance", "metallb.universe.tf/loadBalancerIPs", ipA)
		if ipB := create(b)[0]; ipB != ipA {
			t.Errorf("share-b got %s, want share-a's %s", ipB, ipA)
		}
	})
	t.Run("BGP pool assigns", func(t *testing.T) {
		var bgp string
		for _, p := range bcfg.Pools {
			if p.Protocol == config.BGP {
				bgp = p.Name
				break
			}
		}
		if bgp == "" {
			t.Skip("the configuration has no BGP pool")
		}
		s := annotate(labcluster.NewService(ns, "routed"), "metallb.universe.tf/address-pool", bgp)
		ips := create(s)
		if p, ok := bcfg.PoolFor(mustAddr(ips[0])); !ok || p.Name != bgp {
			t.Errorf("routed got %v, want an address of pool %q", ips, bgp)
		}
	})
}
