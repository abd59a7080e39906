package cloudprovider_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/barelb/barelb/internal/checkout"
	"github.com/barelb/barelb/internal/controlplane"
	"github.com/barelb/barelb/internal/poll"
	"github.com/barelb/barelb/internal/proc"
)

// ccmBinary is the barelb-ccm that make build put in $BARELB_BIN (else the checkout's bin), the
// binary the conformance suite runs too. Without it t is skipped, or fails when
// $BARELB_REQUIRE_CONTROLPLANE is 1.
func ccmBinary(t *testing.T) string {
	t.Helper()
	bin, err := checkout.Binary("barelb-ccm")
	if errors.Is(err, checkout.ErrBinaryMissing) && os.Getenv(controlplane.RequireEnv) != "1" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// cluster is a real control plane with an admin client.
type cluster struct {
	cp     *controlplane.ControlPlane
	client kubernetes.Interface
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a control plane")
	}
	cp := controlplane.ForTest(t)
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = 1000, 2000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("failed to create client: %v", err)
	}
	c := &cluster{cp: cp, client: client}
	for _, ns := range []string{"barelb-system", "test"} {
		_, err := client.CoreV1().Namespaces().Create(context.Background(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("failed to create namespace %s: %v", ns, err)
		}
	}
	return c
}

// setConfig creates or replaces barelb-system/config with the given config YAML.
func (c *cluster) setConfig(t *testing.T, cfg string) {
	t.Helper()
	ctx := context.Background()
	cm := &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "barelb-system", Name: "config"}, Data: map[string]string{"config": cfg}}
	_, err := c.client.CoreV1().ConfigMaps("barelb-system").Update(ctx, cm, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().ConfigMaps("barelb-system").Create(ctx, cm, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("failed to write the config: %v", err)
	}
}

// lbService returns a LoadBalancer Service in namespace test with one TCP port.
func lbService(name string, mutate func(*v1.Service)) *v1.Service {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: name},
		Spec: v1.ServiceSpec{
			Type:     v1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

func (c *cluster) create(t *testing.T, svc *v1.Service) {
	t.Helper()
	if _, err := c.client.CoreV1().Services(svc.Namespace).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("failed to create Service %s: %v", svc.Name, err)
	}
}

// remove deletes a Service and waits until it is gone (its finalizer removed by the CCM).
func (c *cluster) remove(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	if err := c.client.CoreV1().Services("test").Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("failed to delete Service %s: %v", name, err)
	}
	poll.For(t, 30*time.Second, "Service "+name+" gone", func() error {
		_, err := c.client.CoreV1().Services("test").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil {
			return errors.New("it still exists")
		}
		return err
	})
}

// addresses returns the ingress IPs of a Service's status.
func (c *cluster) addresses(t *testing.T, name string) []string {
	t.Helper()
	svc, err := c.client.CoreV1().Services("test").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("failed to get Service %s: %v", name, err)
	}
	return ingressIPs(svc)
}

func ingressIPs(svc *v1.Service) []string {
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	return ips
}

// waitAddresses waits until the Service has addresses and returns them.
func (c *cluster) waitAddresses(t *testing.T, name string, timeout time.Duration) []string {
	t.Helper()
	var ips []string
	poll.For(t, timeout, "addresses of "+name, func() error {
		svc, err := c.client.CoreV1().Services("test").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if ips = ingressIPs(svc); len(ips) == 0 {
			return errors.New("no address yet")
		}
		return nil
	})
	return ips
}

// waitEvent waits for an Event with reason on the named object whose message contains substr.
func (c *cluster) waitEvent(t *testing.T, namespace, object, reason, substr string, timeout time.Duration) v1.Event {
	t.Helper()
	var found v1.Event
	sel := fields.Set{"involvedObject.name": object, "reason": reason}.AsSelector().String()
	poll.For(t, timeout, fmt.Sprintf("event %s on %s/%s containing %q", reason, namespace, object, substr), func() error {
		evs, err := c.client.CoreV1().Events(namespace).List(context.Background(), metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if strings.Contains(e.Message, substr) {
				found = e
				return nil
			}
		}
		return fmt.Errorf("%d %s Events, none containing it", len(evs.Items), reason)
	})
	return found
}

// ccm is a running barelb-ccm process.
type ccm struct {
	*proc.Process
	metrics string // https://127.0.0.1:port/metrics, empty without a secure port
}

// ccmOptions tune startCCM.
type ccmOptions struct {
	// kubeconfig defaults to the admin's.
	kubeconfig  string
	leaderElect bool
	securePort  bool
	extraArgs   []string
}

// startCCM runs the barelb-ccm binary against the cluster; t.Cleanup kills it.
func (c *cluster) startCCM(t *testing.T, o ccmOptions) *ccm {
	t.Helper()
	bin := ccmBinary(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "ccm.log")
	kubeconfig := o.kubeconfig
	if kubeconfig == "" {
		kubeconfig = c.cp.Kubeconfig()
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--cloud-provider=barelb",
		"--concurrent-service-syncs=10",
		"--kube-api-qps=500", "--kube-api-burst=1000",
		"--v=2",
	}
	p := &ccm{}
	if o.securePort {
		port := freePort(t)
		args = append(args, "--secure-port="+strconv.Itoa(port), "--bind-address=127.0.0.1",
			"--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig,
			"--authorization-always-allow-paths=/healthz,/metrics", "--cert-dir="+dir)
		p.metrics = fmt.Sprintf("https://127.0.0.1:%d/metrics", port)
	} else {
		args = append(args, "--secure-port=0")
	}
	if o.leaderElect {
		args = append(args, "--leader-elect=true", "--leader-elect-resource-namespace=barelb-system",
			"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=500ms")
	} else {
		args = append(args, "--leader-elect=false")
	}
	args = append(args, o.extraArgs...)
	var err error
	if p.Process, err = proc.Start("barelb-ccm", exec.Command(bin, args...), logPath, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Kill(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("end of barelb-ccm log %s:\n%s", logPath, tailFile(logPath, 40))
		}
	})
	return p
}

// rss returns the resident set size of the process in bytes.
func (p *ccm) rss(t *testing.T) int64 {
	t.Helper()
	n, err := p.RSS()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// duplicates returns every address held by more than one Service of the list
// (barelb tests that check this never share addresses).
func duplicates(svcs []v1.Service) map[string][]string {
	holders := map[string][]string{}
	for _, s := range svcs {
		for _, ip := range ingressIPs(&s) {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				continue
			}
			holders[a.String()] = append(holders[a.String()], s.Name)
		}
	}
	dups := map[string][]string{}
	for a, h := range holders {
		if len(h) > 1 {
			dups[a] = h
		}
	}
	return dups
}

// parallelism for bulk API calls.
var parallelism = 4 * runtime.GOMAXPROCS(0)
