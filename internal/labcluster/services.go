package labcluster

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/barelb/barelb/internal/poll"
)

// ApplyConfig writes the configuration ConfigMap barelb-system/config.
func (c *Cluster) ApplyConfig(ctx context.Context, config string) error {
	cms := c.Admin.CoreV1().ConfigMaps(Namespace)
	cm, err := cms.Get(ctx, "config", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: "config"}, Data: map[string]string{"config": config}}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	cm.Data = map[string]string{"config": config}
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	return err
}

// NewService returns a LoadBalancer Service exposing the lab's echo port over
// UDP and TCP; mutate may change it before it is created.
func NewService(namespace, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			Ports: []corev1.ServicePort{
				{Name: "udp", Protocol: corev1.ProtocolUDP, Port: EchoPort, TargetPort: intstr.FromInt32(EchoPort)},
				{Name: "tcp", Protocol: corev1.ProtocolTCP, Port: EchoPort, TargetPort: intstr.FromInt32(EchoPort)},
			},
		},
	}
}

// CreateService creates s (its namespace first, if missing).
func (c *Cluster) CreateService(ctx context.Context, s *corev1.Service) (*corev1.Service, error) {
	if err := c.ensureNamespace(ctx, s.Namespace); err != nil {
		return nil, err
	}
	return c.Admin.CoreV1().Services(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
}

// ensureNamespace creates a namespace once.
func (c *Cluster) ensureNamespace(ctx context.Context, name string) error {
	c.mu.Lock()
	done := c.namespaces[name]
	c.mu.Unlock()
	if done {
		return nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	c.mu.Lock()
	c.namespaces[name] = true
	c.mu.Unlock()
	return nil
}

// WaitIngress waits until the Service has load-balancer addresses and
// returns them in status order.
func (c *Cluster) WaitIngress(ctx context.Context, namespace, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	err := poll.Until(ctx, 20*time.Millisecond, func() (bool, error) {
		s, err := c.Admin.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		out = IngressAddrs(s)
		return len(out) > 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("service %s/%s got no address: %w", namespace, name, err)
	}
	return out, nil
}

// IngressAddrs returns a Service's load-balancer addresses in status order.
func IngressAddrs(s *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range s.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// SetEndpoints writes the Service's EndpointSlice (one per family) with one
// ready endpoint on each of nodes: the stand-in for the kubelet and the
// EndpointSlice controller, which the lab does not run.
func (c *Cluster) SetEndpoints(ctx context.Context, namespace, svc string, nodes ...string) error {
	if err := c.ensureNamespace(ctx, namespace); err != nil {
		return err
	}
	for _, fam := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
		sl := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: namespace,
				Name:      fmt.Sprintf("%s-%s", svc, map[discoveryv1.AddressType]string{discoveryv1.AddressTypeIPv4: "v4", discoveryv1.AddressTypeIPv6: "v6"}[fam]),
				Labels:    map[string]string{discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "barelb-lab"},
			},
			AddressType: fam,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("udp"), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(int32(EchoPort))}},
		}
		for _, n := range nodes {
			h := c.Lab.Node(n)
			if h == nil {
				return fmt.Errorf("no node %q", n)
			}
			addr := h.IPv4.Addr()
			if fam == discoveryv1.AddressTypeIPv6 {
				addr = h.IPv6.Addr()
			}
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{addr.String()},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
				NodeName:   ptr.To(n),
			})
		}
		api := c.Admin.DiscoveryV1().EndpointSlices(namespace)
		if _, err := api.Update(ctx, sl, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
			if _, err := api.Create(ctx, sl, metav1.CreateOptions{}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	return nil
}

// AddVIP puts a service address on every node's lo, the stand-in for
// kube-proxy accepting traffic to it on every node.
func (c *Cluster) AddVIP(ctx context.Context, addr netip.Addr) error {
	for _, n := range c.Lab.Nodes {
		if err := n.AddVIP(ctx, addr); err != nil {
			return err
		}
	}
	return nil
}

// Ask sends one request from the client namespace to addr and returns the
// name of the node that answered.
func (c *Cluster) Ask(ctx context.Context, addr netip.Addr) (string, error) {
	return c.Lab.Client.Echo(ctx, netip.AddrPortFrom(addr, EchoPort))
}

// WaitReachable asks addr until a node answers and returns that node.
func (c *Cluster) WaitReachable(ctx context.Context, addr netip.Addr) (string, error) {
	var node string
	err := poll.Until(ctx, 50*time.Millisecond, func() (bool, error) {
		actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		n, err := c.Ask(actx, addr)
		node = n
		return err == nil, nil
	})
	if err != nil {
		return "", fmt.Errorf("%s not reachable from the client: %w", addr, err)
	}
	return node, nil
}
