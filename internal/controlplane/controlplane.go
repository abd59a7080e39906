package controlplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/checkout"
	"github.com/barelb/barelb/internal/proc"
)

// ErrBinariesMissing means etcd or kube-apiserver is not in Options.BinDir: run `make controlplane`.
// It is checkout.ErrBinaryMissing, so one errors.Is test covers the control plane and the lab.
var ErrBinariesMissing = checkout.ErrBinaryMissing

// Service cluster-IP ranges of every control plane: documentation ranges
// (RFC 5737, RFC 3849) that nothing routes, so a ClusterIP is only ever data.
const (
	ServiceCIDRv4 = "203.0.113.0/24"
	ServiceCIDRv6 = "2001:db8:ffff::/112"
)

const (
	startAttempts = 3                // tries with fresh ports when a process exits during start-up
	startTimeout  = 90 * time.Second // per attempt, unless ctx ends earlier
	tokenLifetime = 24 * time.Hour   // of tokens from ServiceAccountToken
)

// Options configures a control plane. The zero value is usable.
type Options struct {
	// BinDir holds the etcd and kube-apiserver binaries. Default: $BARELB_BIN,
	// else the bin directory at the root of the barelb checkout around the working directory.
	BinDir string
	// Dir holds the state: certificates, tokens, etcd data, kubeconfig and, by default,
	// logs. Start replaces its etcd data. Default: a temporary directory, removed by Stop.
	Dir string
	// BindAddress is where etcd and the apiserver's secure port listen, and the
	// apiserver's advertise address. Default: 127.0.0.1.
	BindAddress netip.Addr
	// Netns, if set, names a network namespace (as in `ip netns add`) in which etcd and
	// kube-apiserver run; BindAddress is then an address inside it.
	Netns string
	// Dial, if set, opens connections to the apiserver (and to etcd during start-up);
	// it is needed when the apiserver is only reachable inside Netns. See DialInNetns.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Stdout and Stderr receive both processes' output. Default: etcd.log and
	// kube-apiserver.log in Dir.
	Stdout, Stderr io.Writer
	// APIServerArgs are extra kube-apiserver flags, appended after the built-in ones
	// (a later flag overrides an earlier one).
	APIServerArgs []string
}

// ControlPlane is a running etcd and kube-apiserver. Its methods are safe for concurrent use.
type ControlPlane struct {
	opts       Options
	dir        string
	removeDir  bool
	host       string // https://addr:port
	pki        *pki
	kubeconfig string
	launcher   *launcher
	etcd       *proc.Process
	apiserver  *proc.Process
	logFiles   []*os.File

	stopOnce sync.Once
	stopErr  error
}

// Start starts etcd and kube-apiserver, waits until the apiserver's /readyz
// answers ok and writes an admin kubeconfig. ctx bounds the start-up only; the
// processes run until Stop (or until the calling process dies).
//
// The apiserver authorizes with RBAC only, authenticates the admin token in its
// static token file and service-account tokens it issues itself, serves dual-stack
// Services from ServiceCIDRv4 and ServiceCIDRv6, and keeps no endpoints for itself
// (--endpoint-reconciler-type=none), so nothing depends on its address being routable.
func Start(ctx context.Context, o Options) (*ControlPlane, error) {
	begin := time.Now()
	logger := klog.FromContext(ctx)
	if err := o.complete(); err != nil {
		return nil, err
	}
	c := &ControlPlane{opts: o, dir: o.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "barelb-controlplane-")
		if err != nil {
			return nil, fmt.Errorf("failed to create state directory: %w", err)
		}
		c.dir, c.removeDir = d, true
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create state directory: %w", err)
	}
	if err := c.start(ctx, logger); err != nil {
		_ = c.Stop()
		return nil, err
	}
	logger.Info("Started control plane", "apiserver", c.host, "dir", c.dir, "netns", o.Netns, "duration", time.Since(begin))
	return c, nil
}

// complete fills in defaults and checks that the binaries exist.
func (o *Options) complete() error {
	if o.BinDir == "" {
		dir, err := checkout.BinDir()
		if err != nil {
			return fmt.Errorf("no BinDir: %w", err)
		}
		o.BinDir = dir
	}
	if err := checkout.Require(o.BinDir, "etcd", "kube-apiserver"); err != nil {
		return err
	}
	if !o.BindAddress.IsValid() {
		o.BindAddress = netip.MustParseAddr("127.0.0.1")
	}
	return nil
}

// start runs the attempts: a process that exits during start-up (typically
// because another process took one of its ports) gets a retry on fresh ports.
func (c *ControlPlane) start(ctx context.Context, logger klog.Logger) error {
	p, err := writePKI(c.dir, c.opts.BindAddress)
	if err != nil {
		return err
	}
	c.pki = p
	if err := c.openLogs(); err != nil {
		return err
	}
	if c.launcher, err = startLauncher(c.opts.Netns); err != nil {
		return err
	}
	var errs []error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		err := c.attempt(ctx)
		if err == nil {
			return c.writeKubeconfig()
		}
		errs = append(errs, fmt.Errorf("attempt %d: %w", attempt, err))
		c.stopProcesses()
		c.apiserver, c.etcd = nil, nil
		if ctx.Err() != nil || !errors.Is(err, errExitedEarly) {
			break
		}
		logger.Info("Control plane process exited during start-up, retrying on fresh ports", "attempt", attempt, "err", err)
	}
	return fmt.Errorf("failed to start control plane: %w", errors.Join(errs...))
}

// errExitedEarly means a child exited before it became ready.
var errExitedEarly = errors.New("exited during start-up")

func (c *ControlPlane) openLogs() error {
	if c.opts.Stdout != nil || c.opts.Stderr != nil {
		return nil
	}
	for _, name := range []string{"etcd.log", "kube-apiserver.log"} {
		f, err := os.OpenFile(filepath.Join(c.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("failed to open log file: %w", err)
		}
		c.logFiles = append(c.logFiles, f)
	}
	return nil
}

// output returns the writers for the i-th process (0 etcd, 1 kube-apiserver).
func (c *ControlPlane) output(i int) (stdout, stderr io.Writer) {
	if len(c.logFiles) > i {
		return c.logFiles[i], c.logFiles[i]
	}
	return c.opts.Stdout, c.opts.Stderr
}

func (c *ControlPlane) attempt(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	addr := c.opts.BindAddress
	ports, err := freePorts(c.launcher, addr, 3)
	if err != nil {
		return err
	}
	etcdURL := "http://" + netip.AddrPortFrom(addr, ports[0]).String()
	peerURL := "http://" + netip.AddrPortFrom(addr, ports[1]).String()
	c.host = "https://" + netip.AddrPortFrom(addr, ports[2]).String()

	dataDir := filepath.Join(c.dir, "etcd")
	if err := os.RemoveAll(dataDir); err != nil {
		return fmt.Errorf("failed to clear etcd data: %w", err)
	}
	stdout, stderr := c.output(0)
	c.etcd, err = startProcess(c.launcher, "etcd", filepath.Join(c.opts.BinDir, "etcd"), []string{
		"--name=barelb",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=barelb=" + peerURL,
		"--unsafe-no-fsync", // test data: speed over durability
		"--log-level=warn",
	}, stdout, stderr)
	if err != nil {
		return err
	}
	if err := c.waitReady(ctx, c.etcd, c.etcdHTTPClient(), etcdURL+"/health"); err != nil {
		return err
	}

	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + addr.String(),
		"--advertise-address=" + addr.String(),
		"--secure-port=" + strconv.Itoa(int(ports[2])),
		"--tls-cert-file=" + c.pki.certFile,
		"--tls-private-key-file=" + c.pki.keyFile,
		"--token-auth-file=" + c.pki.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + c.pki.saPubFile,
		"--service-account-signing-key-file=" + c.pki.saKeyFile,
		"--service-cluster-ip-range=" + ServiceCIDRv4 + "," + ServiceCIDRv6,
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
	stdout, stderr = c.output(1)
	c.apiserver, err = startProcess(c.launcher, "kube-apiserver", filepath.Join(c.opts.BinDir, "kube-apiserver"),
		append(args, c.opts.APIServerArgs...), stdout, stderr)
	if err != nil {
		return err
	}
	hc, err := rest.HTTPClientFor(c.RESTConfig())
	if err != nil {
		return fmt.Errorf("failed to build apiserver client: %w", err)
	}
	return c.waitReady(ctx, c.apiserver, hc, c.host+"/readyz")
}

func (c *ControlPlane) etcdHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if c.opts.Dial != nil {
		t.DialContext = c.opts.Dial
	}
	return &http.Client{Transport: t}
}

// waitReady polls url until it answers 200, p exits or ctx ends.
func (c *ControlPlane) waitReady(ctx context.Context, p *proc.Process, hc *http.Client, url string) error {
	defer hc.CloseIdleConnections()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if p.Exited() {
			return fmt.Errorf("%s %w:\n%s", p.Name, errExitedEarly, c.logTail(p.Name))
		}
		last = probe(ctx, hc, url)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last probe: %w)\n%s", p.Name, ctx.Err(), last, c.logTail(p.Name))
		case <-p.Done():
		case <-tick.C:
		}
	}
}

func probe(ctx context.Context, hc *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// logTail is the end of a process's log file, when logs go to Dir.
func (c *ControlPlane) logTail(name string) string {
	if len(c.logFiles) == 0 {
		return ""
	}
	return tail(filepath.Join(c.dir, name+".log"), 4096)
}

// RESTConfig returns a config for the admin (group system:masters), without
// client-side rate limiting so tests can create objects quickly.
func (c *ControlPlane) RESTConfig() *rest.Config {
	cfg := c.RESTConfigForToken(c.pki.adminToken)
	cfg.QPS = -1
	return cfg
}

// RESTConfigForToken returns a config that authenticates with the bearer token,
// e.g. one from ServiceAccountToken.
func (c *ControlPlane) RESTConfigForToken(token string) *rest.Config {
	return &rest.Config{
		Host:            c.host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: append([]byte(nil), c.pki.caPEM...)},
		Dial:            c.opts.Dial,
	}
}

// Host is the apiserver's URL, https://address:port.
func (c *ControlPlane) Host() string { return c.host }

// Dir is the state directory.
func (c *ControlPlane) Dir() string { return c.dir }

// Kubeconfig is the path of the admin kubeconfig file.
func (c *ControlPlane) Kubeconfig() string { return c.kubeconfig }

func (c *ControlPlane) writeKubeconfig() error {
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	return c.WriteKubeconfig(c.kubeconfig, c.pki.adminToken)
}

// WriteKubeconfig writes a kubeconfig file that authenticates with token, so a
// component run as a separate binary (--kubeconfig) gets exactly that token's rights.
func (c *ControlPlane) WriteKubeconfig(path, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["barelb"] = &clientcmdapi.Cluster{Server: c.host, CertificateAuthorityData: c.pki.caPEM}
	cfg.AuthInfos["barelb"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["barelb"] = &clientcmdapi.Context{Cluster: "barelb", AuthInfo: "barelb"}
	cfg.CurrentContext = "barelb"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("failed to write kubeconfig: %w", err)
	}
	return nil
}

// ServiceAccountToken returns a token for the ServiceAccount namespace/name, issued
// through the TokenRequest API and valid for a day. It creates the ServiceAccount if
// it does not exist (the namespace must). The token carries only the RBAC rights bound
// to that ServiceAccount.
func (c *ControlPlane) ServiceAccountToken(ctx context.Context, namespace, name string) (string, error) {
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return "", fmt.Errorf("failed to create client: %w", err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("failed to create service account %s/%s: %w", namespace, name, err)
	}
	secs := int64(tokenLifetime / time.Second)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}
	tr, err = cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("failed to request a token for service account %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

// PIDs are the process ids of etcd and kube-apiserver (each also leads its own
// process group), for tests that kill or inspect them. After Stop they name
// processes that have exited.
func (c *ControlPlane) PIDs() []int {
	var pids []int
	for _, p := range []*proc.Process{c.etcd, c.apiserver} {
		if p != nil {
			pids = append(pids, p.PID())
		}
	}
	return pids
}

// Stop kills kube-apiserver, then etcd (SIGKILL to each process group), waits for
// them and removes a temporary Dir. Calling it again returns the first result.
func (c *ControlPlane) Stop() error {
	c.stopOnce.Do(func() {
		errs := c.stopProcesses()
		if c.launcher != nil {
			c.launcher.stop()
		}
		for _, f := range c.logFiles {
			errs = append(errs, f.Close())
		}
		if c.removeDir {
			errs = append(errs, os.RemoveAll(c.dir))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

func (c *ControlPlane) stopProcesses() []error {
	var errs []error
	for _, p := range []*proc.Process{c.apiserver, c.etcd} {
		if p != nil {
			errs = append(errs, p.Kill())
		}
	}
	return errs
}

// logLines returns the last n lines of each default log file, for test failures.
func (c *ControlPlane) logLines(n int) map[string][]string {
	out := map[string][]string{}
	for _, f := range c.logFiles {
		var lines []string
		s := bufio.NewScanner(strings.NewReader(tail(f.Name(), 64<<10)))
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			lines = append(lines, s.Text())
		}
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		out[filepath.Base(f.Name())] = lines
	}
	return out
}
