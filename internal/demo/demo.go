package demo

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/labcluster"
	"github.com/barelb/barelb/internal/poll"
)

// Options configures the demo.
type Options struct {
	// Nodes is the number of lab nodes; default 3.
	Nodes int
	// Wait keeps the lab up until ctx ends; without it Run returns after the
	// failover.
	Wait bool
}

// Run performs the demo, narrating to out, and tears everything down before
// it returns, also on error or when ctx ends.
func Run(ctx context.Context, out io.Writer, o Options) (err error) {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	say("barelb demo: building a lab of %d nodes and a client (network namespaces on a bridge),", max(o.Nodes, 3))
	say("with etcd and kube-apiserver inside it. Addresses: 192.0.2.0/24 and 2001:db8::/64 only.")
	start := time.Now()
	c, err := labcluster.Start(ctx, labcluster.Options{Nodes: o.Nodes})
	if err != nil {
		return err
	}
	defer func() {
		say("Tearing down the lab...")
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
		say("Done: no namespace or process is left.")
	}()
	say("Control plane ready in %v (kubeconfig: %s)", time.Since(start).Round(time.Millisecond), c.CP.Kubeconfig())

	cfg, err := labcluster.LabConfig(c.ManifestDir())
	if err != nil {
		return err
	}
	if err := c.ApplyConfig(ctx, cfg); err != nil {
		return err
	}
	say("Applied the example config (manifests/example-config.yaml) plus the lab's layer2 pool 192.0.2.100-192.0.2.149, 2001:db8::100-2001:db8::1ff.")
	if _, err := c.StartCCM(0); err != nil {
		return err
	}
	for _, n := range c.Lab.Nodes {
		if _, err := c.StartHelper(n.Name); err != nil {
			return err
		}
	}
	say("Started barelb-ccm and a barelb-nodehelper on every node, each with exactly its RBAC from manifests/.")

	s := labcluster.NewService("default", "demo")
	pol := corev1.IPFamilyPolicyPreferDualStack
	s.Spec.IPFamilyPolicy = &pol
	s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	var nodes []string
	for _, n := range c.Lab.Nodes {
		nodes = append(nodes, n.Name)
	}
	if err := c.SetEndpoints(ctx, "default", "demo", nodes...); err != nil {
		return err
	}
	created := time.Now()
	if _, err := c.CreateService(ctx, s); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	addrs, err := c.WaitIngress(wctx, "default", "demo")
	if err != nil {
		return err
	}
	say("Service default/demo (type LoadBalancer) got %v in %v.", addrs, time.Since(created).Round(time.Millisecond))
	for _, a := range addrs {
		if err := c.AddVIP(ctx, a); err != nil {
			return err
		}
	}
	owner := ""
	for _, a := range addrs {
		n, err := c.WaitReachable(wctx, a)
		if err != nil {
			return err
		}
		owner = n
		say("  %-22s answered by %s (it answers ARP/NDP for the address)", netip.AddrPortFrom(a, labcluster.EchoPort), n)
	}
	// The owner writes the barelb.io/Announced condition off its hot path.
	_ = poll.Until(wctx, 100*time.Millisecond, func() (bool, error) {
		sv, err := c.Admin.CoreV1().Services("default").Get(wctx, "demo", metav1.GetOptions{})
		if err != nil || len(sv.Status.Conditions) == 0 {
			return false, nil
		}
		for _, cond := range sv.Status.Conditions {
			say("  status condition %s=%s: %s", cond.Type, cond.Status, cond.Message)
		}
		return true, nil
	})
	for i := 0; i < 3; i++ {
		n, err := c.Ask(wctx, addrs[0])
		if err != nil {
			return err
		}
		say("  reply %d from %s via %s", i+1, n, addrs[0])
	}

	say("Killing the node helper of %s (SIGKILL) and cutting its link...", owner)
	killed := time.Now()
	if err := c.Proc("helper-" + owner).Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if err := c.Lab.Node(owner).SetLinkUp(ctx, false); err != nil {
		return err
	}
	var next string
	err = poll.Until(wctx, 5*time.Millisecond, func() (bool, error) {
		actx, cancel := context.WithTimeout(wctx, 50*time.Millisecond)
		defer cancel()
		n, err := c.Ask(actx, addrs[0])
		next = n
		return err == nil && n != owner, nil
	})
	if err != nil {
		return fmt.Errorf("no node took over %v: %w", addrs[0], err)
	}
	say("  %s took over %v: first reply %v after the kill.", next, addrs[0], time.Since(killed).Round(time.Millisecond))
	if !o.Wait {
		return nil
	}
	say("")
	say("The lab stays up. Try, from another shell:")
	say("  ip netns exec %s ip neigh          # the client's view", c.Lab.Client.Netns)
	say("  ip netns exec %s bin/barelbctl status --kubeconfig %s", c.Lab.Switch.Netns, c.CP.Kubeconfig())
	say("Press Ctrl-C to tear everything down.")
	<-ctx.Done()
	return nil
}
