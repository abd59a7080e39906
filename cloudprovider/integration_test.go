package cloudprovider_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/barelb/barelb/internal/poll"
)

// testConfig has an auto-assigned dual-stack pool first, then pools that are only
// used on request.
const testConfig = `
address-pools:
- name: default
  protocol: layer2
  addresses: [198.51.100.0/26, 2001:db8:3::/120]
- name: manual
  protocol: layer2
  auto-assign: false
  addresses: [198.51.100.96/28]
- name: buggy
  protocol: layer2
  auto-assign: false
  avoid-buggy-ips: true
  addresses: [192.0.2.0/24]
`

func ptr[T any](v T) *T { return &v }

// TestProvider runs the barelb-ccm binary against a real kube-apiserver and checks the
// behaviour a user sees: addresses in the status, Events, live configuration.
func TestProvider(t *testing.T) {
	c := newCluster(t)
	c.setConfig(t, testConfig)
	p := c.startCCM(t, ccmOptions{securePort: true})
	vip := v1.LoadBalancerIPModeVIP

	t.Run("auto-assign", func(t *testing.T) {
		c.create(t, lbService("auto", nil))
		svc := waitService(t, c, "auto")
		want := []v1.LoadBalancerIngress{{IP: "198.51.100.0", IPMode: &vip}}
		if diff := cmp.Diff(want, svc.Status.LoadBalancer.Ingress); diff != "" {
			t.Errorf("ingress (-want +got):\n%s", diff)
		}
		c.waitEvent(t, "test", "auto", "IPAllocated", "assigned 198.51.100.0 from pool default", 5*time.Second)
	})
	t.Run("address-pool annotation", func(t *testing.T) {
		c.create(t, lbService("pooled", func(s *v1.Service) {
			s.Annotations = map[string]string{"metallb.universe.tf/address-pool": "manual"}
		}))
		if diff := cmp.Diff([]string{"198.51.100.96"}, c.waitAddresses(t, "pooled", 10*time.Second)); diff != "" {
			t.Errorf("addresses (-want +got):\n%s", diff)
		}
	})
	t.Run("loadBalancerIP valid, in use, outside every pool, .0 with avoid-buggy-ips", func(t *testing.T) {
		c.create(t, lbService("fixed", func(s *v1.Service) { s.Spec.LoadBalancerIP = "198.51.100.100" }))
		if diff := cmp.Diff([]string{"198.51.100.100"}, c.waitAddresses(t, "fixed", 10*time.Second)); diff != "" {
			t.Errorf("addresses (-want +got):\n%s", diff)
		}
		c.create(t, lbService("taken", func(s *v1.Service) { s.Spec.LoadBalancerIP = "198.51.100.100" }))
		c.waitEvent(t, "test", "taken", "AllocationFailed", "test/fixed", 10*time.Second)
		c.create(t, lbService("outside", func(s *v1.Service) { s.Spec.LoadBalancerIP = "198.51.100.200" }))
		c.waitEvent(t, "test", "outside", "AllocationFailed", "198.51.100.200", 10*time.Second)
		c.create(t, lbService("dotzero", func(s *v1.Service) { s.Spec.LoadBalancerIP = "192.0.2.0" }))
		c.waitEvent(t, "test", "dotzero", "AllocationFailed", "192.0.2.0", 10*time.Second)
		for _, name := range []string{"taken", "outside", "dotzero"} {
			if got := c.addresses(t, name); len(got) != 0 {
				t.Errorf("Service %s got %v, want none", name, got)
			}
		}

		// Delete the holder: the waiting Service gets the address well before the
		// service controller's backoff would retry it.
		start := time.Now()
		c.remove(t, "fixed")
		if diff := cmp.Diff([]string{"198.51.100.100"}, c.waitAddresses(t, "taken", 5*time.Second)); diff != "" {
			t.Errorf("addresses (-want +got):\n%s", diff)
		}
		if d := time.Since(start); d > 2*time.Second+time.Second {
			t.Errorf("released address reached the pending Service after %v, want ≤ 2 s after the release", d)
		}
		t.Logf("released address reused after %v (including the deletion)", time.Since(start))
	})
	t.Run("sharing allowed and refused on a port clash", func(t *testing.T) {
		share := func(name string, port int32) *v1.Service {
			return lbService(name, func(s *v1.Service) {
				s.Annotations = map[string]string{"metallb.universe.tf/allow-shared-ip": "k1"}
				s.Spec.LoadBalancerIP = "198.51.100.101"
				s.Spec.Ports[0].Port = port
			})
		}
		c.create(t, share("share-a", 80))
		c.create(t, share("share-b", 443))
		for _, n := range []string{"share-a", "share-b"} {
			if diff := cmp.Diff([]string{"198.51.100.101"}, c.waitAddresses(t, n, 10*time.Second)); diff != "" {
				t.Errorf("%s addresses (-want +got):\n%s", n, diff)
			}
		}
		c.create(t, share("share-c", 80))
		c.waitEvent(t, "test", "share-c", "AllocationFailed", "80", 10*time.Second)
	})
	t.Run("dual-stack in spec order", func(t *testing.T) {
		c.create(t, lbService("dual", func(s *v1.Service) {
			s.Spec.IPFamilyPolicy = ptr(v1.IPFamilyPolicyRequireDualStack)
			s.Spec.IPFamilies = []v1.IPFamily{v1.IPv6Protocol, v1.IPv4Protocol}
		}))
		poll.For(t, 10*time.Second, "two addresses", func() error {
			if ips := c.addresses(t, "dual"); len(ips) != 2 {
				return fmt.Errorf("dual has %v", ips)
			}
			return nil
		})
		if diff := cmp.Diff([]string{"2001:db8:3::", "198.51.100.1"}, c.addresses(t, "dual")); diff != "" {
			t.Errorf("addresses (-want +got):\n%s", diff)
		}
	})
	t.Run("IPv6-only", func(t *testing.T) {
		c.create(t, lbService("v6", func(s *v1.Service) { s.Spec.IPFamilies = []v1.IPFamily{v1.IPv6Protocol} }))
		if diff := cmp.Diff([]string{"2001:db8:3::1"}, c.waitAddresses(t, "v6", 10*time.Second)); diff != "" {
			t.Errorf("addresses (-want +got):\n%s", diff)
		}
	})
	t.Run("pool added", func(t *testing.T) {
		c.create(t, lbService("late", func(s *v1.Service) {
			s.Annotations = map[string]string{"metallb.universe.tf/address-pool": "late"}
		}))
		c.waitEvent(t, "test", "late", "AllocationFailed", "late", 10*time.Second)
		start := time.Now()
		c.setConfig(t, testConfig+`
- name: late
  protocol: layer2
  auto-assign: false
  addresses: [198.51.100.112/28]
`)
		if diff := cmp.Diff([]string{"198.51.100.112"}, c.waitAddresses(t, "late", 2*time.Second)); diff != "" {
			t.Errorf("addresses (-want +got):\n%s", diff)
		}
		t.Logf("pending Service got its address %v after the pool was added", time.Since(start))
	})
	t.Run("invalid config not applied", func(t *testing.T) {
		c.setConfig(t, testConfig+`
- name: broken
  protocol: layer3
  addresses: [198.51.100.300/24]
`)
		c.waitEvent(t, "barelb-system", "config", "InvalidConfig", "layer3", 5*time.Second)
		poll.For(t, 5*time.Second, "barelb_config_stale 1", func() error { return metricsContain(t, p, "barelb_config_stale 1") })
		// The old pools keep serving, and "late" (in the last good config) still exists.
		c.create(t, lbService("after-invalid", nil))
		if diff := cmp.Diff([]string{"198.51.100.2"}, c.waitAddresses(t, "after-invalid", 10*time.Second)); diff != "" {
			t.Errorf("addresses (-want +got):\n%s", diff)
		}
	})
	t.Run("pool removed while in use", func(t *testing.T) {
		before := c.addresses(t, "pooled")
		c.setConfig(t, strings.Replace(testConfig, "- name: manual\n  protocol: layer2\n  auto-assign: false\n  addresses: [198.51.100.96/28]\n", "", 1))
		// pooled (.96), taken (.100), share-a and share-b (.101) were in "manual", late
		// (.112) in "late", which this config lacks too: four orphaned addresses.
		c.waitEvent(t, "test", "pooled", "AddressOrphaned", "198.51.100.96", 5*time.Second)
		c.waitEvent(t, "test", "share-b", "AddressOrphaned", "198.51.100.101", 5*time.Second)
		if diff := cmp.Diff(before, c.addresses(t, "pooled")); diff != "" {
			t.Errorf("address changed (-want +got):\n%s", diff)
		}
		metrics := scrape(t, p.metrics)
		for _, want := range []string{"barelb_config_stale 0", "barelb_orphaned_addresses 4", `barelb_pool_addresses{family="ipv4",pool="default",state="total"} 64`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
	t.Run("delete makes the address reusable", func(t *testing.T) {
		c.remove(t, "auto")
		c.create(t, lbService("reuse", func(s *v1.Service) { s.Spec.LoadBalancerIP = "198.51.100.0" }))
		if diff := cmp.Diff([]string{"198.51.100.0"}, c.waitAddresses(t, "reuse", 10*time.Second)); diff != "" {
			t.Errorf("addresses (-want +got):\n%s", diff)
		}
	})
	t.Run("a changed request moves the Service", func(t *testing.T) {
		svc, err := c.client.CoreV1().Services("test").Get(context.Background(), "reuse", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc.Spec.LoadBalancerIP = "198.51.100.50"
		if _, err := c.client.CoreV1().Services("test").Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll.For(t, 10*time.Second, "move to 198.51.100.50", func() error {
			if ips := c.addresses(t, "reuse"); !cmp.Equal([]string{"198.51.100.50"}, ips) {
				return fmt.Errorf("reuse has %v", ips)
			}
			return nil
		})
	})
	t.Run("deleted ConfigMap keeps the last good config", func(t *testing.T) {
		if err := c.client.CoreV1().ConfigMaps("barelb-system").Delete(context.Background(), "config", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.waitEvent(t, "barelb-system", "config", "ConfigMissing", "last good", 5*time.Second)
		c.create(t, lbService("after-delete", nil))
		c.waitAddresses(t, "after-delete", 10*time.Second)
	})
}

// TestSeedConfig applies the configuration shipped in manifests/example-config.yaml (the
// seed's: one BGP pool, auto-assign false, avoid-buggy-ips).
func TestSeedConfig(t *testing.T) {
	data, err := os.ReadFile("../manifests/example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm v1.ConfigMap
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatalf("failed to read the example ConfigMap: %v", err)
	}
	c := newCluster(t)
	c.setConfig(t, cm.Data["config"])
	p := c.startCCM(t, ccmOptions{extraArgs: []string{"--logging-format=json"}})
	c.waitEvent(t, "barelb-system", "config", "ConfigWarning", "BGP", 10*time.Second)

	c.create(t, lbService("auto", nil))
	c.waitEvent(t, "test", "auto", "AllocationFailed", "", 10*time.Second)
	c.create(t, lbService("bgp", func(s *v1.Service) {
		s.Annotations = map[string]string{"metallb.universe.tf/address-pool": "my-ip-space"}
	}))
	if diff := cmp.Diff([]string{"198.51.100.1"}, c.waitAddresses(t, "bgp", 10*time.Second)); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	ev := c.waitEvent(t, "test", "bgp", "IPAllocated", "assigned 198.51.100.1 from BGP pool my-ip-space: BGP is not supported", 5*time.Second)
	if ev.Type != v1.EventTypeWarning {
		t.Errorf("IPAllocated for a BGP pool is %s, want Warning", ev.Type)
	}
	c.create(t, lbService("buggy", func(s *v1.Service) { s.Spec.LoadBalancerIP = "198.51.100.255" }))
	c.waitEvent(t, "test", "buggy", "AllocationFailed", "198.51.100.255", 10*time.Second)

	// --logging-format=json: the provider's own lines are JSON too.
	log, err := os.ReadFile(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `"msg":"barelb is ready"`) {
		t.Errorf("no JSON line with msg \"barelb is ready\" in the CCM log %s", p.Log)
	}
}

// waitService waits for the Service to have addresses and returns it.
func waitService(t *testing.T, c *cluster, name string) *v1.Service {
	t.Helper()
	c.waitAddresses(t, name, 10*time.Second)
	svc, err := c.client.CoreV1().Services("test").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// scrape reads the CCM's /metrics (self-signed certificate, loopback only).
func scrape(t *testing.T, url string) string {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("failed to scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("failed to scrape %s: %d %v %s", url, resp.StatusCode, err, body)
	}
	return string(body)
}

// metricsContain is a poll.For condition: nil once the CCM's metrics hold want.
func metricsContain(t *testing.T, p *ccm, want string) error {
	t.Helper()
	if !strings.Contains(scrape(t, p.metrics), want) {
		return fmt.Errorf("metrics lack %q", want)
	}
	return nil
}
