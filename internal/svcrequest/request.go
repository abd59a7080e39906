package svcrequest

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/barelb/barelb/internal/allocator"
	"github.com/barelb/barelb/internal/lbclass"
)

// The Service annotations barelb reads. They are MetalLB's, under both of its
// prefixes: metallb.io/ (current since MetalLB v0.14.9) and metallb.universe.tf/
// (MetalLB v0.12 and the Services written for it). Each setting means the same
// under either prefix. A Service may carry both keys of a setting when their
// values agree (compared as parsed: the same pool, the same sharing key, the same
// set of addresses); values that differ make the request invalid. An empty value
// is the same as an absent annotation.
const (
	// AnnotationPrefix is MetalLB's current annotation prefix.
	AnnotationPrefix = "metallb.io/"
	// LegacyAnnotationPrefix is MetalLB's prefix before v0.14.9, deprecated there but still read.
	LegacyAnnotationPrefix = "metallb.universe.tf/"

	// AnnotationAddressPool names the pool to allocate from.
	AnnotationAddressPool = AnnotationPrefix + "address-pool"
	// AnnotationAllowSharedIP is the sharing key: Services with the same key may share an address.
	AnnotationAllowSharedIP = AnnotationPrefix + "allow-shared-ip"
	// AnnotationLoadBalancerIPs requests specific addresses: a comma-separated list, at most one per family.
	AnnotationLoadBalancerIPs = AnnotationPrefix + "loadBalancerIPs"

	// LegacyAnnotationAddressPool is AnnotationAddressPool under the legacy prefix.
	LegacyAnnotationAddressPool = LegacyAnnotationPrefix + "address-pool"
	// LegacyAnnotationAllowSharedIP is AnnotationAllowSharedIP under the legacy prefix.
	LegacyAnnotationAllowSharedIP = LegacyAnnotationPrefix + "allow-shared-ip"
	// LegacyAnnotationLoadBalancerIPs is AnnotationLoadBalancerIPs under the legacy prefix.
	LegacyAnnotationLoadBalancerIPs = LegacyAnnotationPrefix + "loadBalancerIPs"
)

// annotation is one setting, read under both of its keys.
type annotation struct{ current, legacy string }

var (
	addressPool     = annotation{AnnotationAddressPool, LegacyAnnotationAddressPool}
	allowSharedIP   = annotation{AnnotationAllowSharedIP, LegacyAnnotationAllowSharedIP}
	loadBalancerIPs = annotation{AnnotationLoadBalancerIPs, LegacyAnnotationLoadBalancerIPs}
)

// setting is one non-empty value of a setting and the key it was read from.
type setting struct{ key, value string }

// lookup returns the setting's non-empty (trimmed) values, the current key's first.
func (an annotation) lookup(svc *v1.Service) []setting {
	var out []setting
	for _, k := range []string{an.current, an.legacy} {
		if v := strings.TrimSpace(svc.Annotations[k]); v != "" {
			out = append(out, setting{k, v})
		}
	}
	return out
}

// conflictError is the error of a setting whose two keys disagree.
func conflictError(a, b setting) error {
	return fmt.Errorf("annotations %s %q and %s %q: conflicting values; remove one or make them agree", a.key, a.value, b.key, b.value)
}

// word returns a setting whose value is a single word (a pool name, a sharing
// key): "" when unset, an error when its two keys disagree.
func (an annotation) word(svc *v1.Service) (string, error) {
	set := an.lookup(svc)
	switch {
	case len(set) == 0:
		return "", nil
	case len(set) == 2 && set[0].value != set[1].value:
		return "", conflictError(set[0], set[1])
	default:
		return set[0].value, nil
	}
}

// sharingKey returns the Service's sharing key, "" when it has none; an error
// when its two annotations disagree.
func sharingKey(svc *v1.Service) (string, error) {
	return allowSharedIP.word(svc)
}

// Key is how the allocator names a Service: "namespace/name".
func Key(svc *v1.Service) string {
	return svc.Namespace + "/" + svc.Name
}

// For translates a Service into an allocator request. It is pure: every
// error names the field and the value at fault.
func For(svc *v1.Service) (allocator.Request, error) {
	req := allocator.Request{
		Service:            Key(svc),
		TrafficPolicyLocal: svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal,
		Selector:           canonicalSelector(svc.Spec.Selector),
	}
	var err error
	if req.Pool, err = addressPool.word(svc); err != nil {
		return allocator.Request{}, err
	}
	if req.SharingKey, err = sharingKey(svc); err != nil {
		return allocator.Request{}, err
	}
	families, err := Families(svc)
	if err != nil {
		return allocator.Request{}, err
	}
	req.Families = families
	req.FamilyPolicy = familyPolicyOf(svc)
	addrs, err := requestedAddresses(svc, families)
	if err != nil {
		return allocator.Request{}, err
	}
	req.Addresses = addrs
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		req.Ports = append(req.Ports, allocator.Port{Protocol: string(proto), Port: p.Port})
	}
	return req, nil
}

// canonicalSelector renders a pod selector in sorted, canonical form; nil or empty is "".
func canonicalSelector(sel map[string]string) string {
	if len(sel) == 0 {
		return ""
	}
	return labels.SelectorFromSet(sel).String()
}

// Families returns spec.ipFamilies as allocator families, in order; empty means [IPv4].
func Families(svc *v1.Service) ([]allocator.Family, error) {
	if len(svc.Spec.IPFamilies) == 0 {
		return []allocator.Family{allocator.IPv4}, nil
	}
	var fams []allocator.Family
	for i, f := range svc.Spec.IPFamilies {
		var fam allocator.Family
		switch f {
		case v1.IPv4Protocol:
			fam = allocator.IPv4
		case v1.IPv6Protocol:
			fam = allocator.IPv6
		default:
			return nil, fmt.Errorf("spec.ipFamilies[%d] %q: not IPv4 or IPv6", i, f)
		}
		if slices.Contains(fams, fam) {
			return nil, fmt.Errorf("spec.ipFamilies[%d] %q: listed twice", i, f)
		}
		fams = append(fams, fam)
	}
	return fams, nil
}

// familyPolicyOf returns spec.ipFamilyPolicy; unset is SingleStack, as the apiserver defaults it.
func familyPolicyOf(svc *v1.Service) allocator.FamilyPolicy {
	if svc.Spec.IPFamilyPolicy == nil {
		return allocator.SingleStack
	}
	switch *svc.Spec.IPFamilyPolicy {
	case v1.IPFamilyPolicyPreferDualStack:
		return allocator.PreferDualStack
	case v1.IPFamilyPolicyRequireDualStack:
		return allocator.RequireDualStack
	default:
		return allocator.SingleStack
	}
}

// FamilyOf returns the allocator family of a.
func FamilyOf(a netip.Addr) allocator.Family {
	if a.Is4() {
		return allocator.IPv4
	}
	return allocator.IPv6
}

// requestedAddresses returns the specific addresses the Service asks for, from
// spec.loadBalancerIP or the loadBalancerIPs annotations (not both), at most one per family
// and each of a family the Service has. When both loadBalancerIPs annotations are set,
// they must name the same set of addresses.
func requestedAddresses(svc *v1.Service, families []allocator.Family) ([]netip.Addr, error) {
	fromSpec := strings.TrimSpace(svc.Spec.LoadBalancerIP)
	annotated := loadBalancerIPs.lookup(svc)
	switch {
	case fromSpec != "" && len(annotated) > 0:
		return nil, fmt.Errorf("spec.loadBalancerIP %q and annotation %s %q: set only one of them", fromSpec, annotated[0].key, annotated[0].value)
	case fromSpec != "":
		return parseAddresses("spec.loadBalancerIP", fromSpec, families)
	}
	var addrs []netip.Addr
	for i, set := range annotated {
		got, err := parseAddresses("annotation "+set.key, set.value, families)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			addrs = got
		} else if !SameAddresses(addrs, got) {
			return nil, conflictError(annotated[0], set)
		}
	}
	return addrs, nil
}

// parseAddresses parses value, a comma-separated list of addresses read from field:
// at most one per family, each of a family in families.
func parseAddresses(field, value string, families []allocator.Family) ([]netip.Addr, error) {
	var addrs []netip.Addr
	for _, s := range strings.Split(value, ",") {
		s = strings.TrimSpace(s)
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%s %q: %q is not an IP address", field, value, s)
		}
		a = a.Unmap()
		fam := FamilyOf(a)
		for _, b := range addrs {
			if FamilyOf(b) == fam {
				return nil, fmt.Errorf("%s %q: more than one IPv%d address (%s and %s)", field, value, fam, b, a)
			}
		}
		if !slices.Contains(families, fam) {
			return nil, fmt.Errorf("%s %q: %s is IPv%d, which is not in spec.ipFamilies", field, value, a, fam)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// Status builds the LoadBalancer status for the addresses a Service holds: one
// ingress per address, in the order of spec.ipFamilies, with ipMode VIP (the address is
// answered on the nodes, traffic arrives with it as destination).
func Status(families []allocator.Family, addrs []netip.Addr) *v1.LoadBalancerStatus {
	st := &v1.LoadBalancerStatus{}
	vip := v1.LoadBalancerIPModeVIP
	for _, fam := range families {
		for _, a := range addrs {
			if FamilyOf(a) == fam {
				st.Ingress = append(st.Ingress, v1.LoadBalancerIngress{IP: a.String(), IPMode: &vip})
			}
		}
	}
	return st
}

// IngressAddresses returns the IP addresses in a Service's status, skipping hostnames
// and unparsable entries (barelb never writes either).
func IngressAddresses(svc *v1.Service) []netip.Addr {
	var addrs []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			addrs = append(addrs, a.Unmap())
		}
	}
	return addrs
}

// Claim is the existing assignment a Service's status records, to adopt at start-up.
// The request keeps what matters for sharing (key, ports, traffic policy, selector) but not
// the Service's preferences (pool, requested addresses): an address it holds is adopted as
// is, and a changed preference then moves it through the normal path.
// ok is false for a Service barelb has nothing to adopt from, or that served does not serve.
func Claim(svc *v1.Service, served lbclass.Selector) (claim allocator.Claim, ok bool) {
	if !served.Serves(svc) {
		return allocator.Claim{}, false
	}
	addrs := IngressAddresses(svc)
	if len(addrs) == 0 {
		return allocator.Claim{}, false
	}
	req, err := For(svc)
	if err != nil {
		// The Service's current spec is invalid, but its status still holds addresses:
		// adopt them with what can be read, so nobody else gets them.
		req = allocator.Request{Service: Key(svc), SharingKey: claimSharingKey(svc)}
		for _, a := range addrs {
			req.Families = append(req.Families, FamilyOf(a))
		}
	}
	req.Pool = ""
	req.Addresses = nil
	// The families of the claim are those of the held addresses, in spec order.
	var fams []allocator.Family
	for _, f := range req.Families {
		for _, a := range addrs {
			if FamilyOf(a) == f && !slices.Contains(fams, f) {
				fams = append(fams, f)
			}
		}
	}
	if len(fams) == 0 {
		return allocator.Claim{}, false
	}
	if len(fams) == 2 && req.FamilyPolicy == allocator.SingleStack {
		req.FamilyPolicy = allocator.PreferDualStack
	}
	req.Families = fams
	var held []netip.Addr
	for _, a := range addrs {
		if slices.Contains(fams, FamilyOf(a)) {
			held = append(held, a)
		}
	}
	return allocator.Claim{Request: req, Addresses: held, Created: svc.CreationTimestamp.Time}, true
}

// claimSharingKey is the sharing key to adopt an invalid Service's addresses
// with. When its two allow-shared-ip annotations disagree it is the legacy
// one's: the key the address was shared under before the metallb.io annotation
// was added (barelb read only the legacy key before it read both). A wrong guess costs
// the younger of the sharing Services its address, with an AddressConflict Event.
func claimSharingKey(svc *v1.Service) string {
	if key, err := sharingKey(svc); err == nil {
		return key
	}
	return strings.TrimSpace(svc.Annotations[LegacyAnnotationAllowSharedIP])
}

// SameAddresses reports whether a and b hold the same addresses, in any order.
func SameAddresses(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
