package controller

import (
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/barelb/barelb/internal/config"
	"github.com/barelb/barelb/nodehelper/election"
)

// ExcludeLabel keeps a Node out of external load balancers, by Kubernetes
// convention (well-known label node.kubernetes.io/exclude-from-external-load-balancers).
const ExcludeLabel = corev1.LabelNodeExcludeBalancers

// nodeInfo is what the election needs of a Node.
func nodeInfo(n *corev1.Node) election.NodeInfo {
	info := election.NodeInfo{Name: n.Name}
	_, info.ExcludedByLabel = n.Labels[ExcludeLabel]
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

// announced says whether this node helper announces a Service at all: a
// class-less LoadBalancer Service (a Service with spec.loadBalancerClass
// belongs to another implementation).
func announced(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.LoadBalancerClass == nil
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
	readyNodes map[string]bool
}

// endpointsByService reads the EndpointSlices into a state per Service key
// ("namespace/name"). An endpoint counts when it is ready (nil means ready,
// per the EndpointSlice API) and, where given, serving.
func endpointsByService(slices []*discoveryv1.EndpointSlice) map[string]*endpointState {
	out := map[string]*endpointState{}
	for _, sl := range slices {
		name := sl.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		key := sl.Namespace + "/" + name
		st := out[key]
		if st == nil {
			st = &endpointState{readyNodes: map[string]bool{}}
			out[key] = st
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if ep.Conditions.Serving != nil && !*ep.Conditions.Serving {
				continue
			}
			st.anyReady = true
			if ep.NodeName != nil && *ep.NodeName != "" {
				st.readyNodes[*ep.NodeName] = true
			}
		}
	}
	return out
}

// bgpAddress is an address of a BGP pool: assigned, never announced.
type bgpAddress struct {
	Service string
	Addr    netip.Addr
	Pool    string
}

// serviceView splits the Services' addresses into the ones this node helper
// elects an owner for (layer2 pools, and addresses outside every pool, which
// keep being served until their Service lets them go) and the ones of BGP
// pools, which are not announced. cfg nil means no valid configuration was
// ever read: every address is then announced, as losing reachability is worse
// than announcing a BGP pool's address.
func serviceView(svcs []*corev1.Service, slices []*discoveryv1.EndpointSlice, cfg *config.Config) ([]election.ServiceInfo, []bgpAddress) {
	eps := endpointsByService(slices)
	var infos []election.ServiceInfo
	var bgp []bgpAddress
	for _, s := range svcs {
		if !announced(s) {
			continue
		}
		key := s.Namespace + "/" + s.Name
		var addrs []netip.Addr
		for _, a := range ingressAddrs(s) {
			if cfg != nil {
				if p, ok := cfg.PoolFor(a); ok && p.Protocol == config.BGP {
					bgp = append(bgp, bgpAddress{Service: key, Addr: a, Pool: p.Name})
					continue
				}
			}
			addrs = append(addrs, a)
		}
		if len(addrs) == 0 {
			continue
		}
		info := election.ServiceInfo{
			Key:                key,
			Addresses:          addrs,
			TrafficPolicyLocal: s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
		}
		if st := eps[key]; st != nil {
			info.HasReadyEndpoints = st.anyReady
			for n := range st.readyNodes {
				info.LocalEndpointNodes = append(info.LocalEndpointNodes, n)
			}
			sort.Strings(info.LocalEndpointNodes)
		}
		infos = append(infos, info)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	return infos, bgp
}
