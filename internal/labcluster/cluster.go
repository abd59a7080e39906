package labcluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/barelb/barelb/internal/checkout"
	"github.com/barelb/barelb/internal/controlplane"
	"github.com/barelb/barelb/internal/gossipkey"
	"github.com/barelb/barelb/internal/lab"
	"github.com/barelb/barelb/internal/proc"
)

// EchoPort is the port of every node's stand-in service (the lab's echo
// server, which answers with the node's name).
const EchoPort = 7007

// Namespace is barelb's namespace, as in manifests/namespace.yaml.
const Namespace = "barelb-system"

// Options configures a lab cluster. The zero value is usable.
type Options struct {
	// Nodes is the number of nodes; default 3.
	Nodes int
	// BinDir holds barelb-ccm, barelb-nodehelper, etcd and kube-apiserver.
	// Default: $BARELB_BIN, else <repo>/bin.
	BinDir string
	// ManifestDir holds the RBAC manifests. Default: <repo>/manifests.
	ManifestDir string
	// Dir receives kubeconfigs and component logs. Default: a temporary
	// directory removed by Close.
	Dir string
	// HelperArgs are extra flags for every node helper.
	HelperArgs []string
	// CCMArgs are extra flags for the CCM.
	CCMArgs []string
	// APIServerArgs are extra kube-apiserver flags.
	APIServerArgs []string
}

// Cluster is a running lab cluster.
type Cluster struct {
	Lab   *lab.Lab
	CP    *controlplane.ControlPlane
	Admin kubernetes.Interface

	o         Options
	removeDir bool
	ccmKube   string
	nodeKube  string

	mu         sync.Mutex
	procs      map[string]*Process
	namespaces map[string]bool
	echoes     []func()
	ccmPort    int
}

// Start builds the lab, starts the control plane inside it, applies barelb's
// RBAC, creates the gossip key, the Node objects and a stand-in service on
// every node. It starts no barelb component: see StartCCM and StartHelper.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	if err := o.complete(); err != nil {
		return nil, err
	}
	c := &Cluster{o: o, procs: map[string]*Process{}, namespaces: map[string]bool{}, ccmPort: 10300}
	if c.o.Dir == "" {
		if c.o.Dir, err = os.MkdirTemp("", "barelb-lab-"); err != nil {
			return nil, err
		}
		c.removeDir = true
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if c.Lab, err = lab.New(ctx, lab.Options{Name: "blb", Nodes: o.Nodes}); err != nil {
		return nil, fmt.Errorf("failed to build the lab: %w", err)
	}
	c.CP, err = controlplane.Start(ctx, controlplane.Options{
		BinDir:        o.BinDir,
		Dir:           filepath.Join(c.o.Dir, "controlplane"),
		BindAddress:   c.Lab.ControlAddr(),
		Netns:         c.Lab.Switch.Netns,
		Dial:          c.Lab.Switch.DialContext,
		APIServerArgs: o.APIServerArgs,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to start the control plane: %w", err)
	}
	if c.Admin, err = kubernetes.NewForConfig(c.CP.RESTConfig()); err != nil {
		return nil, err
	}
	if err := ApplyRBAC(ctx, c.CP, o.ManifestDir); err != nil {
		return nil, fmt.Errorf("failed to apply barelb's RBAC: %w", err)
	}
	if c.ccmKube, err = c.tokenKubeconfig(ctx, "barelb-ccm"); err != nil {
		return nil, err
	}
	if c.nodeKube, err = c.tokenKubeconfig(ctx, "barelb-nodehelper"); err != nil {
		return nil, err
	}
	key, err := gossipkey.Generate()
	if err != nil {
		return nil, err
	}
	if err := c.SetGossipKeys(ctx, key); err != nil {
		return nil, err
	}
	for _, n := range c.Lab.Nodes {
		if err := c.createNode(ctx, n); err != nil {
			return nil, err
		}
		stop, err := n.StartEcho(context.Background(), EchoPort, n.Name)
		if err != nil {
			return nil, fmt.Errorf("failed to start the echo server on %s: %w", n.Name, err)
		}
		c.echoes = append(c.echoes, stop)
	}
	return c, nil
}

func (o *Options) complete() error {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.BinDir == "" {
		dir, err := checkout.BinDir()
		if err != nil {
			return err
		}
		o.BinDir = dir
	}
	if o.ManifestDir == "" {
		root, err := checkout.Root()
		if err != nil {
			return err
		}
		o.ManifestDir = filepath.Join(root, "manifests")
	}
	if err := checkout.Require(o.BinDir, "barelb-ccm", "barelb-nodehelper", "etcd", "kube-apiserver"); err != nil {
		return fmt.Errorf("failed to find the lab's binaries in %s: %w", o.BinDir, err)
	}
	return nil
}

func (c *Cluster) tokenKubeconfig(ctx context.Context, sa string) (string, error) {
	token, err := c.CP.ServiceAccountToken(ctx, Namespace, sa)
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.o.Dir, sa+".kubeconfig")
	return path, c.CP.WriteKubeconfig(path, token)
}

// KubeconfigFor returns the kubeconfig of a component's ServiceAccount:
// "barelb-ccm" or "barelb-nodehelper".
func (c *Cluster) KubeconfigFor(sa string) string {
	if sa == "barelb-ccm" {
		return c.ccmKube
	}
	return c.nodeKube
}

// SetGossipKeys writes the gossip key Secret (first key encrypts).
func (c *Cluster) SetGossipKeys(ctx context.Context, keys ...string) error {
	text := ""
	for _, k := range keys {
		text += k + "\n"
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: "memberlist"},
		Data:       map[string][]byte{gossipkey.DataKey: []byte(text)},
	}
	_, err := c.Admin.CoreV1().Secrets(Namespace).Update(ctx, s, metav1.UpdateOptions{})
	if err != nil {
		_, err = c.Admin.CoreV1().Secrets(Namespace).Create(ctx, s, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("failed to write the gossip key Secret: %w", err)
	}
	return nil
}

// createNode creates the Node object of a lab host, Ready, with its lab
// addresses as InternalIPs.
func (c *Cluster) createNode(ctx context.Context, h *lab.Host) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: h.Name, Labels: map[string]string{corev1.LabelHostname: h.Name}}}
	n, err := c.Admin.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("failed to create Node %s: %w", h.Name, err)
	}
	now := metav1.Now()
	n.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: h.IPv4.Addr().String()},
		{Type: corev1.NodeInternalIP, Address: h.IPv6.Addr().String()},
		{Type: corev1.NodeHostName, Address: h.Name},
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "LabNode"}}
	if _, err := c.Admin.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("failed to set the status of Node %s: %w", h.Name, err)
	}
	return nil
}

// Process is a barelb component running in the lab. `ip netns exec` replaces
// itself with the binary, so its pid is the component's own.
type Process = proc.Process

func (c *Cluster) start(name string, h *lab.Host, bin string, args ...string) (*Process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.procs[name]; old != nil && !old.Exited() {
		return nil, fmt.Errorf("%s is already running", name)
	}
	cmd := h.Command(context.Background(), filepath.Join(c.o.BinDir, bin), args...)
	p, err := proc.Start(name, cmd, filepath.Join(c.o.Dir, name+".log"), nil)
	if err != nil {
		return nil, err
	}
	c.procs[name] = p
	return p, nil
}

// StartCCM starts a barelb-ccm replica in the switch namespace, next to the
// apiserver, with the barelb-ccm ServiceAccount's token.
func (c *Cluster) StartCCM(replica int, extra ...string) (*Process, error) {
	port := c.ccmPort + replica
	args := []string{
		"--kubeconfig=" + c.ccmKube,
		"--authentication-kubeconfig=" + c.ccmKube,
		"--authorization-kubeconfig=" + c.ccmKube,
		"--cloud-provider=barelb",
		"--controllers=service",
		"--leader-elect=true",
		"--leader-elect-resource-namespace=" + Namespace,
		"--leader-elect-lease-duration=4s",
		"--leader-elect-renew-deadline=3s",
		"--leader-elect-retry-period=500ms",
		"--use-service-account-credentials=false",
		"--configure-cloud-routes=false",
		"--bind-address=" + c.Lab.ControlAddr().String(),
		"--secure-port=" + strconv.Itoa(port),
		"--concurrent-service-syncs=10",
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--v=2",
	}
	args = append(args, c.o.CCMArgs...)
	return c.start(fmt.Sprintf("ccm-%d", replica), c.Lab.Switch, "barelb-ccm", append(args, extra...)...)
}

// StartHelper starts the node helper of a node inside its namespace, with the
// barelb-nodehelper ServiceAccount's token.
func (c *Cluster) StartHelper(node string, extra ...string) (*Process, error) {
	h := c.Lab.Node(node)
	if h == nil {
		return nil, fmt.Errorf("no node %q", node)
	}
	args := []string{
		"--kubeconfig=" + c.nodeKube,
		"--node-name=" + node,
		"--bind-address=" + h.IPv4.Addr().String(),
		"--metrics-address=" + netip.AddrPortFrom(h.IPv4.Addr(), 7473).String(),
		"--v=2",
	}
	args = append(args, c.o.HelperArgs...)
	return c.start("helper-"+node, h, "barelb-nodehelper", append(args, extra...)...)
}

// Proc returns the process started under name ("ccm-0", "helper-node1").
func (c *Cluster) Proc(name string) *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

// Dir is where kubeconfigs and logs are.
func (c *Cluster) Dir() string { return c.o.Dir }

// Close stops every process, the control plane and the lab.
func (c *Cluster) Close() error {
	c.mu.Lock()
	procs := c.procs
	c.procs = map[string]*Process{}
	c.mu.Unlock()
	for _, p := range procs {
		if !p.Exited() {
			_ = p.Signal(syscall.SIGKILL)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range procs {
		_ = p.Wait(ctx)
	}
	for _, stop := range c.echoes {
		stop()
	}
	var errs []error
	if c.CP != nil {
		errs = append(errs, c.CP.Stop())
	}
	if c.Lab != nil {
		errs = append(errs, c.Lab.Close())
	}
	if c.removeDir {
		errs = append(errs, os.RemoveAll(c.o.Dir))
	}
	return errors.Join(errs...)
}

// CPUTimes returns the CPU time used so far by every running component and
// by the control plane's processes, by name.
func (c *Cluster) CPUTimes() map[string]time.Duration {
	out := map[string]time.Duration{}
	c.mu.Lock()
	for name, p := range c.procs {
		if d, err := p.CPUTime(); err == nil {
			out[name] = d
		}
	}
	c.mu.Unlock()
	for i, pid := range c.CP.PIDs() {
		if d, err := proc.CPUTime(pid); err == nil {
			out[[]string{"etcd", "kube-apiserver"}[min(i, 1)]] += d
		}
	}
	return out
}
