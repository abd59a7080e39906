package controlplane

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/barelb/barelb/internal/poll"
)

func TestControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := ForTest(t)
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	ctx := t.Context()
	createNamespace(t, cs, "barelb-test")

	t.Run("version", func(t *testing.T) {
		v, err := cs.Discovery().ServerVersion()
		if err != nil {
			t.Fatalf("failed to get server version: %v", err)
		}
		if diff := cmp.Diff("v1.37.2", v.GitVersion); diff != "" {
			t.Errorf("server version (-want +got):\n%s", diff)
		}
	})

	t.Run("kubeconfig", func(t *testing.T) {
		cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
		if err != nil {
			t.Fatalf("failed to load kubeconfig: %v", err)
		}
		if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().Get(ctx, "barelb-test", metav1.GetOptions{}); err != nil {
			t.Errorf("failed to get namespace through the kubeconfig: %v", err)
		}
	})

	t.Run("LoadBalancer Services", func(t *testing.T) {
		dual := corev1.IPFamilyPolicyRequireDualStack
		single := corev1.IPFamilyPolicySingleStack
		tests := []struct {
			name     string
			policy   *corev1.IPFamilyPolicy
			families []corev1.IPFamily
			want     []netip.Prefix // the ranges the ClusterIPs come from, in order
		}{
			{"dual-stack", &dual, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
				[]netip.Prefix{netip.MustParsePrefix(ServiceCIDRv4), netip.MustParsePrefix(ServiceCIDRv6)}},
			{"dual-stack IPv6 first", &dual, []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol},
				[]netip.Prefix{netip.MustParsePrefix(ServiceCIDRv6), netip.MustParsePrefix(ServiceCIDRv4)}},
			{"IPv6 only", &single, []corev1.IPFamily{corev1.IPv6Protocol},
				[]netip.Prefix{netip.MustParsePrefix(ServiceCIDRv6)}},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				svc := &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("lb-%d", i), Namespace: "barelb-test"},
					Spec: corev1.ServiceSpec{
						Type:           corev1.ServiceTypeLoadBalancer,
						IPFamilyPolicy: tt.policy,
						IPFamilies:     tt.families,
						Selector:       map[string]string{"app": "echo"},
						Ports:          []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
					},
				}
				if _, err := cs.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
					t.Fatalf("failed to create Service: %v", err)
				}
				got, err := cs.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("failed to get Service: %v", err)
				}
				if diff := cmp.Diff(tt.families, got.Spec.IPFamilies); diff != "" {
					t.Errorf("ipFamilies (-want +got):\n%s", diff)
				}
				if got.Spec.Type != corev1.ServiceTypeLoadBalancer {
					t.Errorf("type = %q, want LoadBalancer", got.Spec.Type)
				}
				if len(got.Spec.ClusterIPs) != len(tt.want) {
					t.Fatalf("clusterIPs = %v, want one from each of %v", got.Spec.ClusterIPs, tt.want)
				}
				for j, s := range got.Spec.ClusterIPs {
					ip, err := netip.ParseAddr(s)
					if err != nil || !tt.want[j].Contains(ip) {
						t.Errorf("clusterIPs[%d] = %q, want an address in %s", j, s, tt.want[j])
					}
				}
			})
		}
	})

	t.Run("service account has exactly its RBAC", func(t *testing.T) {
		token, err := c.ServiceAccountToken(ctx, "barelb-test", "reader")
		if err != nil {
			t.Fatalf("failed to get token: %v", err)
		}
		sa := kubernetes.NewForConfigOrDie(c.RESTConfigForToken(token))
		_, err = sa.CoreV1().Secrets("barelb-test").List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("listing Secrets without RBAC: err = %v, want Forbidden", err)
		}
		grantListSecrets(t, cs, "barelb-test", "reader")
		poll.For(t, 10*time.Second, "the RoleBinding to take effect", func() error {
			_, err := sa.CoreV1().Secrets("barelb-test").List(ctx, metav1.ListOptions{})
			return err
		})
		if _, err := sa.CoreV1().Services("barelb-test").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("listing Services with a Secrets-only Role: err = %v, want Forbidden", err)
		}
	})
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("failed to create namespace: %v", err)
	}
}

func grantListSecrets(t *testing.T, cs kubernetes.Interface, namespace, serviceAccount string) {
	t.Helper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader", Namespace: namespace},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list"}}},
	}
	if _, err := cs.RbacV1().Roles(namespace).Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("failed to create Role: %v", err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader", Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: serviceAccount}},
	}
	if _, err := cs.RbacV1().RoleBindings(namespace).Create(t.Context(), rb, metav1.CreateOptions{}); err != nil {
		t.Fatalf("failed to create RoleBinding: %v", err)
	}
}

// alive reports whether pid names a process that has not exited (zombies count as exited).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

func TestStopLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := ForTest(t)
	pids := c.PIDs()
	if len(pids) != 2 {
		t.Fatalf("PIDs() = %v, want etcd and kube-apiserver", pids)
	}
	dir := c.Dir()
	begin := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %v", time.Since(begin))
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still running after Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory %s: err = %v, want it removed", dir, err)
	}
}

// helperEnv makes the test binary run TestHelperHoldControlPlane for real.
const helperEnv = "BARELB_CONTROLPLANE_HELPER"

// TestHelperHoldControlPlane is not a test: run by TestProcessesDieWithParent in a
// child test binary, it starts a control plane, prints its PIDs and blocks.
func TestHelperHoldControlPlane(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestProcessesDieWithParent")
	}
	c := ForTestWithOptions(t, Options{Dir: os.Getenv(helperEnv + "_DIR")})
	fmt.Printf("pids %d %d\n", c.PIDs()[0], c.PIDs()[1])
	select {}
}

func TestProcessesDieWithParent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	var o Options
	if err := o.complete(); errors.Is(err, ErrBinariesMissing) && os.Getenv(RequireEnv) != "1" {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldControlPlane$", "-test.v")
	// The helper dies without cleaning up: its state goes in our temporary directory.
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperEnv+"_DIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start helper: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pids []int
	s := bufio.NewScanner(out)
	for s.Scan() {
		var a, b int
		if _, err := fmt.Sscanf(s.Text(), "pids %d %d", &a, &b); err == nil {
			pids = []int{a, b}
			break
		}
	}
	if pids == nil {
		t.Fatalf("helper printed no PIDs")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("failed to kill helper: %v", err)
	}
	_ = cmd.Wait()
	poll.For(t, 10*time.Second, "etcd and kube-apiserver to die with their parent", func() error {
		for _, pid := range pids {
			if alive(pid) {
				return fmt.Errorf("process %d still running", pid)
			}
		}
		return nil
	})
}

func TestNetns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	ns := fmt.Sprintf("barelb-cp-%d", os.Getpid())
	ip(t, "netns", "add", ns)
	t.Cleanup(func() { ip(t, "netns", "del", ns) })
	ip(t, "-n", ns, "link", "set", "lo", "up")

	dial := DialInNetns(ns)
	c := ForTestWithOptions(t, Options{Netns: ns, Dial: dial})
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	createNamespace(t, cs, "in-netns")

	// The apiserver listens only inside the namespace: the host's loopback refuses.
	host := strings.TrimPrefix(c.Host(), "https://")
	if conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(t.Context(), "tcp", host); err == nil {
		conn.Close()
		t.Errorf("dialled %s from the host network namespace, want it unreachable there", host)
	}
	if conn, err := dial(t.Context(), "tcp", host); err != nil {
		t.Errorf("failed to dial %s inside %s: %v", host, ns, err)
	} else {
		conn.Close()
	}
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func TestIPv6BindAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := ForTestWithOptions(t, Options{BindAddress: netip.MustParseAddr("::1")})
	if !strings.HasPrefix(c.Host(), "https://[::1]:") {
		t.Errorf("Host() = %q, want https://[::1]:port", c.Host())
	}
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
		t.Errorf("failed to get namespace default: %v", err)
	}
}

// BenchmarkStartStop measures a whole Start (etcd and kube-apiserver ready) and Stop.
func BenchmarkStartStop(b *testing.B) {
	var o Options
	if err := o.complete(); errors.Is(err, ErrBinariesMissing) {
		b.Skip(err)
	}
	for b.Loop() {
		c, err := Start(b.Context(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}
