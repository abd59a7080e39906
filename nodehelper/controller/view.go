package controller

import (
	"net/netip"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/nodehelper/election"
	"github.com/barelb/barelb/nodehelper/report"
)

// ExcludeLabel keeps a Node out of external load balancers, by Kubernetes
// convention (well-known label node.kubernetes.io/exclude-from-external-load-balancers).
const ExcludeLabel = corev1.LabelNodeExcludeBalancers

// nodeInfo is what the election needs of a Node; ignoreExcludeLabel disregards
// ExcludeLabel (Options.IgnoreExcludeLabel).
func nodeInfo(n *corev1.Node, ignoreExcludeLabel bool) election.NodeInfo {
	info := election.NodeInfo{Name: n.Name}
	if !ignoreExcludeLabel {
		info.ExcludedByLabel = lbclass.ExcludedNode(n.Labels)
	}
	for _, c := range n.Status.Conditions {
		switch {
		case c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue:
			info.NetworkUnavailable = true
		case c.Type == corev1.NodeReady && c.Status == corev1.ConditionFalse:
			info.NotReady = true
		}
	}
	return info
}

// ingressAddrs returns the valid IP addresses of a Service's load-balancer
// status, unmapped and sorted.
func ingressAddrs(s *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range s.Status.LoadBalancer.Ingress {
		a, err := netip.ParseAddr(in.IP)
		if err != nil {
			continue
		}
		out = append(out, a.Unmap())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// endpointState is what the EndpointSlices of one Service say.
type endpointState struct {
	anyReady   bool
	readyNodes []string // sorted, without duplicates
}

// endpointsOf reads the EndpointSlices of one Service. An endpoint counts
// when it is ready (nil means ready, per the EndpointSlice API) and, where
// given, serving.
func endpointsOf(sls []*discoveryv1.EndpointSlice) endpointState {
	var st endpointState
	for _, sl := range sls {
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if ep.Conditions.Serving != nil && !*ep.Conditions.Serving {
				continue
			}
			st.anyReady = true
			if ep.NodeName != nil && *ep.NodeName != "" {
				st.readyNodes = append(st.readyNodes, *ep.NodeName)
			}
		}
	}
	sort.Strings(st.readyNodes)
	st.readyNodes = slices.Compact(st.readyNodes)
	return st
}

// sliceService returns the "namespace/name" key of the Service an
// EndpointSlice belongs to, or "" when it names none.
func sliceService(sl *discoveryv1.EndpointSlice) string {
	name := sl.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return ""
	}
	return sl.Namespace + "/" + name
}

// serviceEntry is the election input of one Service, given its
// EndpointSlices: the addresses this node helper elects an owner for, those
// inside a layer2 pool of cfg, and apart the others, which are never
// announced. Announcing only what the configuration hands out keeps a node
// from answering for an address written into a Service's status by anyone
// else (the gateway's, another host's). ok is false when the Service has
// nothing to announce. cfg nil means no valid configuration was ever read,
// neither the ConfigMap nor the record of the last applied one (see
// readConfig): nothing is announced. served decides by type and class
// whether the Service is barelb's at all (Options.Served).
func serviceEntry(s *corev1.Service, sls []*discoveryv1.EndpointSlice, cfg *config.Config, served lbclass.Selector) (info election.ServiceInfo, ok bool, skipped []report.Skipped) {
	if !served.Serves(s) { // not a LoadBalancer, or another implementation's class
		return info, false, nil
	}
	key := s.Namespace + "/" + s.Name
	var addrs []netip.Addr
	for _, a := range ingressAddrs(s) {
		if cfg == nil {
			skipped = append(skipped, report.Skipped{Service: key, Addr: a, Reason: report.SkipNoConfig})
			continue
		}
		p, found := cfg.PoolFor(a)
		switch {
		case !found:
			skipped = append(skipped, report.Skipped{Service: key, Addr: a, Reason: report.SkipNotInPool})
		case p.Protocol == config.BGP:
			skipped = append(skipped, report.Skipped{Service: key, Addr: a, Reason: report.SkipBGP, Pool: p.Name})
		case p.Protocol == config.Layer2:
			addrs = append(addrs, a)
		default:
			skipped = append(skipped, report.Skipped{Service: key, Addr: a, Reason: report.SkipNotInPool})
		}
	}
	if len(addrs) == 0 {
		return info, false, skipped
	}
	st := endpointsOf(sls)
	return election.ServiceInfo{
		Key:                key,
		Addresses:          addrs,
		TrafficPolicyLocal: s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
		HasReadyEndpoints:  st.anyReady,
		LocalEndpointNodes: st.readyNodes,
	}, true, skipped
}
