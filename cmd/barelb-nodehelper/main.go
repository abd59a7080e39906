// Command barelb-nodehelper runs on every node: it gossips with the other
// node helpers, elects one owner per service address, and on the owner answers
// ARP and NDP for it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register" // --logging-format=json
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/internal/version"
	"github.com/barelb/barelb/nodehelper/ifaces"
	"github.com/barelb/barelb/nodehelper/membership"
)

func main() {
	o, logOpts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "barelb-nodehelper:", err)
		os.Exit(2)
	}
	if err := logsapi.ValidateAndApply(logOpts, nil); err != nil {
		fmt.Fprintln(os.Stderr, "barelb-nodehelper:", err)
		os.Exit(2)
	}
	defer logs.FlushLogs()

	// SIGTERM (a rolling update, a drain) is a planned handover: leave the
	// gossip gracefully so the next owner takes over at once.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := klog.Background().WithValues("node", o.nodeName)
	ctx = klog.NewContext(ctx, log)
	log.Info("Starting barelb-nodehelper", "version", version.Version)
	// Favoured scheduling keeps probe answers timely on a saturated node, so
	// that peers do not declare it dead (needs CAP_SYS_NICE; optional).
	if err := membership.RaisePriority(membership.HelperNiceness); err != nil {
		log.Info("Running at normal priority", "reason", err.Error())
	}
	if err := run(ctx, o); err != nil {
		log.Error(err, "barelb-nodehelper failed")
		logs.FlushLogs()
		os.Exit(1)
	}
	log.Info("Stopped")
}

// options are the parsed flags.
type options struct {
	kubeconfig        string
	nodeName          string
	bindAddr          netip.Addr
	gossipPort        int
	keySecret         string
	keyFile           string
	insecureGossip    bool
	configMap         string
	configKey         string
	allow, deny       []string
	ignoreExcludeLB   bool
	probeInterval     time.Duration
	probeTimeout      time.Duration
	suspicionMult     int
	gossipInterval    time.Duration
	rejoinInterval    time.Duration
	soloAfter         time.Duration
	gratuitousRefresh time.Duration
	metricsAddr       string
	profiling         bool
	reportQPS         float64
	reportBurst       int
	served            lbclass.Selector
}

func parseFlags(args []string) (options, *logsapi.LoggingConfiguration, error) {
	var o options
	fs := flag.NewFlagSet("barelb-nodehelper", flag.ContinueOnError)
	var bind, allow, deny string
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig; empty means the in-cluster configuration.")
	fs.StringVar(&o.nodeName, "node-name", "", "This node's Kubernetes name, also its gossip member name (required; from the downward API spec.nodeName).")
	fs.StringVar(&bind, "bind-address", "", "The node's address the gossip binds to (required; from the downward API status.hostIP).")
	fs.IntVar(&o.gossipPort, "gossip-port", membership.DefaultPort, "UDP and TCP port of the gossip.")
	fs.StringVar(&o.keySecret, "gossip-key-secret", "barelb-system/memberlist", "namespace/name of the Secret whose data key \"secretkey\" holds the gossip keys, one per line, the first encrypting.")
	fs.StringVar(&o.keyFile, "gossip-key-file", "", "File holding the gossip keys (a mounted Secret's secretkey), re-read every 10 s; replaces --gossip-key-secret.")
	fs.BoolVar(&o.insecureGossip, "insecure-gossip", false, "Run the gossip unencrypted when no key Secret is given. Never do this on a shared network.")
	fs.StringVar(&o.configMap, "config-map", "barelb-system/config", "namespace/name of the configuration ConfigMap.")
	fs.StringVar(&o.configKey, "config-key", "config", "Data key of the configuration in the ConfigMap.")
	fs.StringVar(&allow, "interfaces", "", "Comma-separated interface name globs to answer on; replaces the built-in exclusion of virtual interfaces.")
	fs.StringVar(&deny, "exclude-interfaces", "", "Comma-separated interface name globs never to answer on.")
	fs.BoolVar(&o.ignoreExcludeLB, "ignore-exclude-lb", false, "Let Nodes labelled node.kubernetes.io/exclude-from-external-load-balancers announce like any other: for single-node and control-plane-only clusters, where kubeadm or Talos label every node.")
	fs.DurationVar(&o.probeInterval, "probe-interval", membership.DefaultProbeInterval, "Gossip failure-detection probe interval.")
	fs.DurationVar(&o.probeTimeout, "probe-timeout", membership.DefaultProbeTimeout, "Gossip probe timeout; shorter than --probe-interval.")
	fs.IntVar(&o.suspicionMult, "suspicion-mult", membership.DefaultSuspicionMult, "Gossip suspicion multiplier: how many probe intervals a suspected node has to refute.")
	fs.DurationVar(&o.gossipInterval, "gossip-interval", membership.DefaultGossipInterval, "How often state changes are gossiped.")
	fs.DurationVar(&o.rejoinInterval, "rejoin-interval", 2*time.Second, "How often nodes that are not gossip members are joined again, so partitions heal.")
	fs.DurationVar(&o.soloAfter, "solo-after", membership.DefaultSoloAfter, "When no gossip peer answers within this long of the first join attempt, serve as a cluster of one (and keep joining); 0 never does.")
	fs.DurationVar(&o.gratuitousRefresh, "gratuitous-refresh", 0, "Re-announce every owned address at this interval (0: only when gained).")
	fs.StringVar(&o.metricsAddr, "metrics-address", ":7473", "Address of the /metrics, /healthz and /readyz endpoint; empty disables it.")
	fs.BoolVar(&o.profiling, "profiling", false, "Serve Go profiles under /debug/pprof/ on the metrics address.")
	fs.Float64Var(&o.reportQPS, "report-qps", 10, "Writes per second of Events and Service conditions (reporting, never on the path to an announcement).")
	fs.IntVar(&o.reportBurst, "report-burst", 50, "Burst of --report-qps.")
	var class lbclass.Flags
	class.AddFlags(fs)
	logOpts := logsapi.NewLoggingConfiguration()
	logsapi.AddGoFlags(logOpts, fs)
	if err := fs.Parse(args); err != nil {
		return o, nil, err
	}
	if fs.NArg() > 0 {
		return o, nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.nodeName == "" {
		return o, nil, fmt.Errorf("--node-name is required")
	}
	a, err := netip.ParseAddr(bind)
	if err != nil {
		return o, nil, fmt.Errorf("--bind-address %q: not an IP address", bind)
	}
	o.bindAddr = a
	if o.served, err = class.Selector(); err != nil {
		return o, nil, err
	}
	if o.keyFile != "" {
		o.keySecret = ""
	}
	if o.reportQPS <= 0 || o.reportBurst < 1 {
		return o, nil, fmt.Errorf("--report-qps %v and --report-burst %d: both must be positive", o.reportQPS, o.reportBurst)
	}
	if o.keySecret == "" && o.keyFile == "" && !o.insecureGossip {
		return o, nil, fmt.Errorf("no gossip key: give --gossip-key-secret or --gossip-key-file; gossip is always encrypted unless --insecure-gossip is set")
	}
	for _, v := range []struct {
		flag string
		val  string
	}{{"--gossip-key-secret", o.keySecret}, {"--config-map", o.configMap}} {
		if v.val != "" && len(strings.Split(v.val, "/")) != 2 {
			return o, nil, fmt.Errorf("%s %q: want namespace/name", v.flag, v.val)
		}
	}
	if o.soloAfter < 0 {
		return o, nil, fmt.Errorf("--solo-after %v: must not be negative", o.soloAfter)
	}
	o.allow, o.deny = splitList(allow), splitList(deny)
	if err := ifaces.ValidateGlobs(append(append([]string{}, o.allow...), o.deny...)); err != nil {
		return o, nil, fmt.Errorf("--interfaces/--exclude-interfaces: %w", err)
	}
	return o, logOpts, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
