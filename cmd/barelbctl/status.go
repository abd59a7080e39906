package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/barelb/barelb/internal/lastapplied"
)

// statusTimeout bounds every request status makes.
const statusTimeout = 30 * time.Second

// runStatus implements "barelbctl status": it reads the cluster and prints
// the configuration's state, the pools and every LoadBalancer Service.
// Exit 0: all is well; 1: the configuration is not valid or a Service has a
// problem; 2: usage error or the cluster could not be read.
func runStatus(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "path to a kubeconfig; default: $KUBECONFIG, then ~/.kube/config, then in-cluster")
	kubeContext := fs.String("context", "", "kubeconfig context to use; default: the current context")
	configMap := fs.String("config-map", "barelb-system/config", "namespace/name of the configuration ConfigMap")
	configKey := fs.String("config-key", "config", "data key of the configuration in the ConfigMap")
	output := fs.String("o", "table", "output format: table or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: barelbctl status [--kubeconfig FILE] [--context NAME] [--config-map NAMESPACE/NAME] [--config-key KEY] [-o table|json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	ns, name, ok := strings.Cut(*configMap, "/")
	if fs.NArg() != 0 || (*output != "table" && *output != "json") || !ok || ns == "" || name == "" {
		fs.Usage()
		return exitUsage
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	restConfig, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: *kubeContext}).ClientConfig()
	if err != nil {
		fmt.Fprintf(stderr, "barelbctl status: failed to load kubeconfig: %v\n", err)
		return exitUsage
	}
	restConfig.UserAgent = "barelbctl"
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		fmt.Fprintf(stderr, "barelbctl status: failed to create client: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	st, err := readCluster(ctx, client, ns, name, *configKey)
	if err != nil {
		fmt.Fprintf(stderr, "barelbctl status: %v\n", err)
		return exitUsage
	}
	r := buildReport(st)

	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(stderr, "barelbctl status: failed to write output: %v\n", err)
			return exitUsage
		}
	} else {
		writeTable(stdout, r, time.Now())
	}
	if r.hasProblems() {
		return exitInvalid
	}
	return exitOK
}

// readCluster reads the ConfigMap, every Service and the Events on Services
// and on the ConfigMap. Reading the Events is best effort: without them the
// report only lacks what the Events say.
func readCluster(ctx context.Context, client kubernetes.Interface, ns, name, key string) (clusterState, error) {
	st := clusterState{ConfigMapNamespace: ns, ConfigMapName: name, ConfigKey: key}
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return clusterState{}, fmt.Errorf("failed to read ConfigMap %s/%s: %w", ns, name, err)
	default:
		st.ConfigMap = cm
	}
	rec, err := client.CoreV1().ConfigMaps(lastapplied.Namespace).Get(ctx, lastapplied.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
	case err != nil:
		return clusterState{}, fmt.Errorf("failed to read the record %s/%s: %w", lastapplied.Namespace, lastapplied.Name, err)
	default:
		st.Record = rec
	}
	svcs, err := client.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return clusterState{}, fmt.Errorf("failed to list Services: %w", err)
	}
	st.Services = svcs.Items
	svcEvents, err := client.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.kind", "Service").String(),
	})
	if err != nil && !apierrors.IsForbidden(err) {
		return clusterState{}, fmt.Errorf("failed to list Service Events: %w", err)
	}
	if err == nil {
		st.Events = append(st.Events, svcEvents.Items...)
	}
	cmEvents, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: fields.SelectorFromSet(fields.Set{"involvedObject.kind": "ConfigMap", "involvedObject.name": name}).String(),
	})
	if err != nil && !apierrors.IsForbidden(err) {
		return clusterState{}, fmt.Errorf("failed to list ConfigMap Events: %w", err)
	}
	if err == nil {
		st.Events = append(st.Events, cmEvents.Items...)
	}
	return st, nil
}

// writeTable prints the report for people. now dates the Events.
func writeTable(w io.Writer, r report, now time.Time) {
	c := r.Config
	fmt.Fprintf(w, "CONFIG %s (key %q): %s\n", c.ConfigMap, c.Key, c.State)
	if c.Stale {
		fmt.Fprintln(w, "  not applied: barelb keeps running on the last good configuration (barelb_config_stale 1)")
	}
	if la := c.LastApplied; la != nil && c.Effective == effectiveLastApplied {
		fmt.Fprintf(w, "  running on the last applied configuration (record %s): applied %s (%s ago) from ConfigMap %s resourceVersion %s\n",
			la.Record, la.AppliedAt.UTC().Format(time.RFC3339), age(now, la.AppliedAt), la.Source, la.ResourceVersion)
	}
	if la := c.LastApplied; la != nil && la.Error != "" {
		fmt.Fprintf(w, "  record %s not usable: %s\n", la.Record, la.Error)
	}
	for _, e := range c.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	for _, warn := range c.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	if e := c.LastEvent; e != nil {
		fmt.Fprintf(w, "  last event: %s %s (%s ago): %s\n", e.Type, e.Reason, age(now, e.Time), e.Message)
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if c.Effective == effectiveNone {
		fmt.Fprintln(w, "POOLS: unknown while the configuration is not valid and no last applied one is recorded")
	} else {
		fmt.Fprintln(tw, "POOL\tPROTOCOL\tAUTO-ASSIGN\tFAMILY\tSIZE\tIN USE\tFREE")
		for _, p := range r.Pools {
			fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%d\t%s\n", p.Name, p.Protocol, p.AutoAssign, p.Family, count(p.Size), p.InUse, count(p.Free))
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	if len(r.Services) == 0 {
		fmt.Fprintln(w, "No LoadBalancer Services.")
		return
	}
	fmt.Fprintln(tw, "SERVICE\tADDRESSES\tPOOL\tNODE\tINTERFACES\tPROBLEMS")
	for _, s := range r.Services {
		addrs := strings.Join(s.Addresses, ",")
		if addrs == "" {
			addrs = "<pending>"
		}
		pool, node, ifs := dash(s.Pool), "-", "-"
		if s.LoadBalancerClass != "" {
			pool = "(class " + s.LoadBalancerClass + ")"
		}
		if a := s.Announcement; a != nil {
			node, ifs = a.Node, strings.Join(interfacesOf(a), ",")
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%d\n", s.Namespace, s.Name, addrs, pool, node, dash(ifs), len(s.Problems))
	}
	tw.Flush()
	first := true
	for _, s := range r.Services {
		for _, p := range s.Problems {
			if first {
				fmt.Fprintln(w, "\nPROBLEMS")
				first = false
			}
			fmt.Fprintf(w, "  %s/%s: %s: %s\n", s.Namespace, s.Name, p.Reason, p.Message)
		}
	}
}

// interfacesOf lists the interfaces of an announcement, each once, in order.
func interfacesOf(a *announcement) []string {
	var out []string
	seen := map[string]bool{}
	for _, aa := range a.Addresses {
		for _, i := range aa.Interfaces {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// count prints a pool size; a saturated (huge IPv6) size is shown as such.
func count(n uint64) string {
	if n == ^uint64(0) {
		return ">=2^64"
	}
	return fmt.Sprint(n)
}

// age is a short duration like kubectl's: 45s, 3m, 5h, 2d.
func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "?"
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
