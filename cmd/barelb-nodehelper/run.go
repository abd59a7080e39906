package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/component-base/metrics"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/nodehelper/announce"
	"github.com/barelb/barelb/nodehelper/controller"
	"github.com/barelb/barelb/nodehelper/ifaces"
	"github.com/barelb/barelb/nodehelper/keys"
	"github.com/barelb/barelb/nodehelper/membership"
)

// run wires the parts and runs them until ctx ends or one fails.
func run(ctx context.Context, o options) error {
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	// Protobuf costs a fraction of JSON to decode, and every helper decodes
	// every Service, EndpointSlice and Node update.
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	// Every helper watches every Service: compressing each helper's watch
	// stream costs the apiserver CPU per helper, to save bandwidth on a
	// cluster network that has plenty.
	cfg.DisableCompression = true
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("failed to create the Kubernetes client: %w", err)
	}
	// Events and Service conditions report what happened; they are never on
	// the path to an announcement. They go through a client of their own,
	// rate-limited, so that when a thousand addresses move at once the
	// helpers' reports queue here instead of competing at the apiserver with
	// the CCM's allocations.
	reportCfg := rest.CopyConfig(cfg)
	reportCfg.QPS, reportCfg.Burst = float32(o.reportQPS), o.reportBurst
	reportClient, err := kubernetes.NewForConfig(reportCfg)
	if err != nil {
		return fmt.Errorf("failed to create the Kubernetes client: %w", err)
	}

	var gossipKeys [][]byte
	keyNS, keyName, _ := strings.Cut(o.keySecret, "/")
	switch {
	case o.keyFile != "":
		if gossipKeys, err = keys.LoadFile(o.keyFile); err != nil {
			return fmt.Errorf("refusing to start without a gossip key (or --insecure-gossip): %w", err)
		}
	case o.keySecret != "":
		if gossipKeys, err = keys.Load(ctx, client, keyNS, keyName); err != nil {
			return fmt.Errorf("refusing to start without a gossip key (or --insecure-gossip): %w", err)
		}
	}

	reg := metrics.NewKubeRegistry()
	mm := membership.NewMetrics()
	reg.MustRegister(mm.Registerables()...)
	cm := controller.NewMetrics()
	cm.Register(reg)

	links := ifaces.NewWatcher()
	peers := newPeerSource(o.gossipPort)
	members, err := membership.New(membership.Config{
		NodeName:       o.nodeName,
		BindAddr:       o.bindAddr,
		BindPort:       o.gossipPort,
		Keys:           gossipKeys,
		Insecure:       o.insecureGossip && len(gossipKeys) == 0,
		ProbeInterval:  o.probeInterval,
		ProbeTimeout:   o.probeTimeout,
		SuspicionMult:  o.suspicionMult,
		GossipInterval: o.gossipInterval,
		RejoinInterval: o.rejoinInterval,
		SoloAfter:      soloAfter(o.soloAfter),
		Peers:          peers.get,
		Metrics:        mm,
	}, klog.FromContext(ctx))
	if err != nil {
		return err
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: contract.ComponentNodeHelper, Host: o.nodeName})

	cmNS, cmName, _ := strings.Cut(o.configMap, "/")
	ctrl, err := controller.New(controller.Options{
		NodeName:           o.nodeName,
		NodeAddr:           o.bindAddr,
		ConfigNamespace:    cmNS,
		ConfigName:         cmName,
		ConfigKey:          o.configKey,
		Filter:             ifaces.Filter{Allow: o.allow, Deny: o.deny},
		IgnoreExcludeLabel: o.ignoreExcludeLB,
		Served:             o.served,
		Client:             client,
		ReportClient:       reportClient,
		Members:            members,
		Links:              links,
		NewAnnouncer: func(ifi *net.Interface, onConflict func(announce.Conflict)) controller.Announcer {
			return announce.New(ifi, announce.Options{Refresh: o.gratuitousRefresh, Conflict: onConflict})
		},
		MemberMACs:   members.MemberMACs,
		MemberReach:  members.MemberReach,
		PublishLinks: members.SetLocalLinks,
		Events:       eventSink{recorder},
		Metrics:      cm,
		OnNodes: func(nodes []*corev1.Node) {
			// The gossip port accepts only the Nodes' InternalIPs, the
			// same list the join targets come from.
			members.SetAllowedSources(peers.set(nodes))
		},
	})
	if err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: reportClient.CoreV1().Events("")})
	g.Go(func() error { return links.Run(ctx) })
	g.Go(func() error { return ctrl.Run(ctx) })
	g.Go(func() error { return members.Run(ctx) })
	if o.keyFile != "" {
		f := &keys.FileFollower{Path: o.keyFile, Interval: 10 * time.Second, Update: members.UpdateKeys}
		g.Go(func() error { return f.Run(ctx) })
	}
	if o.keySecret != "" {
		f := &keys.Follower{Client: client, Namespace: keyNS, Name: keyName, Update: members.UpdateKeys}
		g.Go(func() error { return f.Run(ctx) })
	}
	if o.metricsAddr != "" {
		g.Go(func() error { return serveMetrics(ctx, o.metricsAddr, reg, ctrl.Ready, o.profiling) })
	}
	return g.Wait()
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("failed to load the in-cluster configuration (or give --kubeconfig): %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig %s: %w", kubeconfig, err)
	}
	return c, nil
}

// eventSink adapts a record.EventRecorder to controller.EventSink.
type eventSink struct{ record.EventRecorder }

// peerSource holds the gossip join targets, the InternalIPs of the Nodes,
// fed by the controller's Node cache. Until the first feed it blocks the
// membership's first call, so that no node mistakes the empty list of a cold
// cache for a cluster of one and claims everything.
type peerSource struct {
	port  int
	once  sync.Once
	ready chan struct{}
	mu    sync.Mutex
	addrs []netip.AddrPort
}

func newPeerSource(port int) *peerSource {
	return &peerSource{port: port, ready: make(chan struct{})}
}

// set replaces the peers with the Nodes' InternalIPs and returns those
// addresses.
func (p *peerSource) set(nodes []*corev1.Node) []netip.Addr {
	var out []netip.AddrPort
	var ips []netip.Addr
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(p.port)))
				ips = append(ips, ip.Unmap())
			}
		}
	}
	p.mu.Lock()
	p.addrs = out
	p.mu.Unlock()
	p.once.Do(func() { close(p.ready) })
	return ips
}

// soloAfter maps --solo-after (0: never) to membership.Config.SoloAfter
// (negative: never).
func soloAfter(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// get returns the latest peers, waiting for the first feed.
func (p *peerSource) get(ctx context.Context) []netip.AddrPort {
	select {
	case <-ctx.Done():
		return nil
	case <-p.ready:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]netip.AddrPort(nil), p.addrs...)
}

// serveMetrics serves /metrics, /healthz and /readyz until ctx ends.
func serveMetrics(ctx context.Context, addr string, reg metrics.KubeRegistry, ready func() bool, profiling bool) error {
	mux := http.NewServeMux()
	if profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/metrics", metrics.HandlerFor(reg, metrics.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: caches not synced or gossip not joined", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("failed to serve metrics on %s: %w", addr, err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
