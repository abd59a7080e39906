package ifaces

import (
	"errors"
	"net/netip"
	"path"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const upRunning = FlagUp | FlagRunning

func prefixes(ps ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// node is a typical node: lo, eth0 with the node address, a bond of two ports with a second LAN,
// a bridge with a port, container links and the IPVS dummy holding service addresses.
var node = []Link{
	{Name: "lo", Index: 1, Flags: upRunning | FlagLoopback, Kind: "device", Prefixes: prefixes("127.0.0.1/8", "::1/128", "198.51.100.7/32")},
	{Name: "eth0", Index: 2, Flags: upRunning, Kind: "device", Prefixes: prefixes("192.0.2.1/24", "2001:db8::1/64", "fe80::1/64")},
	{Name: "eth1", Index: 3, Flags: upRunning, Kind: "device", MasterIndex: 5},
	{Name: "eth2", Index: 4, Flags: upRunning, Kind: "device", MasterIndex: 5},
	{Name: "bond0", Index: 5, Flags: upRunning, Kind: "bond", Prefixes: prefixes("203.0.113.1/24")},
	{Name: "br0", Index: 6, Flags: upRunning, Kind: "bridge", Prefixes: prefixes("198.51.100.1/25")},
	{Name: "eth3", Index: 7, Flags: upRunning, Kind: "device", MasterIndex: 6, Prefixes: prefixes("198.51.100.129/25")},
	{Name: "cni0", Index: 8, Flags: upRunning, Kind: "bridge", Prefixes: prefixes("10.244.0.1/24")},
	{Name: "veth1a2b", Index: 9, Flags: upRunning, Kind: "veth", MasterIndex: 8},
	{Name: "kube-ipvs0", Index: 10, Flags: FlagUp, Kind: "dummy", Prefixes: prefixes("192.0.2.100/32", "10.96.0.1/32")},
	{Name: "tunl0", Index: 11, Flags: upRunning | FlagNoARP, Kind: "ipip", Prefixes: prefixes("10.244.0.0/32")},
	{Name: "eth4", Index: 12, Flags: FlagUp, Kind: "device", Prefixes: prefixes("192.0.2.200/24")},
}

func TestChoose(t *testing.T) {
	tests := []struct {
		name       string
		links      []Link
		vip, node  string
		filter     Filter
		want       []string
		wantReason Reason
	}{
		{name: "connected v4", links: node, vip: "192.0.2.100", node: "192.0.2.1", want: []string{"eth0"}, wantReason: ReasonConnected},
		{name: "connected v6", links: node, vip: "2001:db8::100", node: "192.0.2.1", want: []string{"eth0"}, wantReason: ReasonConnected},
		{name: "4in6 service address", links: node, vip: "::ffff:192.0.2.100", want: []string{"eth0"}, wantReason: ReasonConnected},
		{name: "bond master, not its ports", links: node, vip: "203.0.113.9", want: []string{"bond0"}, wantReason: ReasonConnected},
		{name: "bridge, not its port", links: node, vip: "198.51.100.9", node: "192.0.2.1", want: []string{"br0"}, wantReason: ReasonConnected},
		{name: "port's own prefix ignored, fall back to node link", links: node, vip: "198.51.100.200", node: "192.0.2.1", want: []string{"eth0"}, wantReason: ReasonNodeLink},
		{name: "host prefix is an address, not a connected network", links: []Link{
			node[1],
			{Name: "dummy0", Index: 30, Flags: upRunning, Kind: "dummy", Prefixes: prefixes("203.0.114.5/32")},
		}, vip: "203.0.114.5", node: "192.0.2.1", want: []string{"eth0"}, wantReason: ReasonNodeLink},
		{name: "outside every subnet: node link", links: node, vip: "203.0.114.5", node: "192.0.2.1", want: []string{"eth0"}, wantReason: ReasonNodeLink},
		{name: "outside every subnet, v6 node address", links: node, vip: "2001:db9::5", node: "2001:db8::1", want: []string{"eth0"}, wantReason: ReasonNodeLink},
		{name: "container bridge skipped", links: node, vip: "10.244.0.50", node: "", wantReason: ReasonNoNodeLink},
		{name: "node address unknown", links: node, vip: "203.0.114.5", node: "192.0.2.77", wantReason: ReasonNoNodeLink},
		{name: "node address on excluded link", links: node, vip: "203.0.114.5", node: "10.244.0.1", wantReason: ReasonNodeLinkExcluded},
		{name: "down link skipped", links: []Link{node[11]}, vip: "192.0.2.50", node: "192.0.2.200", wantReason: ReasonNodeLinkExcluded},
		{name: "several connected links, index order", links: []Link{
			{Name: "vlan20", Index: 20, Flags: upRunning, Kind: "vlan", Prefixes: prefixes("192.0.2.2/24")},
			{Name: "eth0", Index: 2, Flags: upRunning, Kind: "device", Prefixes: prefixes("192.0.2.1/24")},
		}, vip: "192.0.2.100", want: []string{"eth0", "vlan20"}, wantReason: ReasonConnected},
		{name: "deny list", links: node, vip: "192.0.2.100", node: "2001:db8::1", filter: Filter{Deny: []string{"eth*"}}, wantReason: ReasonNodeLinkExcluded},
		{name: "allow list limits", links: node, vip: "192.0.2.100", filter: Filter{Allow: []string{"bond*"}}, wantReason: ReasonNoNodeLink},
		{name: "allow list overrides name rules", links: node, vip: "10.244.0.50", filter: Filter{Allow: []string{"cni0"}}, want: []string{"cni0"}, wantReason: ReasonConnected},
		{name: "deny wins over allow", links: node, vip: "10.244.0.50", filter: Filter{Allow: []string{"cni*"}, Deny: []string{"cni0"}}, wantReason: ReasonNoNodeLink},
		{name: "allow list never admits a slave", links: node, vip: "198.51.100.200", filter: Filter{Allow: []string{"eth3"}}, wantReason: ReasonNoNodeLink},
		{name: "VRF member stays eligible", links: []Link{
			{Name: "vrf-blue", Index: 3, Flags: upRunning | FlagNoARP, Kind: "vrf"},
			{Name: "eth1", Index: 4, Flags: upRunning, Kind: "device", MasterIndex: 3, Prefixes: prefixes("203.0.113.1/24")},
		}, vip: "203.0.113.9", want: []string{"eth1"}, wantReason: ReasonConnected},
		{name: "master unknown: treated as slave", links: []Link{
			{Name: "eth1", Index: 4, Flags: upRunning, Kind: "device", MasterIndex: 99, Prefixes: prefixes("203.0.113.1/24")},
		}, vip: "203.0.113.9", wantReason: ReasonNoNodeLink},
		{name: "no links", vip: "192.0.2.1", node: "192.0.2.1", wantReason: ReasonNoNodeLink},
		{name: "invalid service address", links: node, vip: "", wantReason: ReasonInvalidAddress},
		{name: "multicast service address", links: node, vip: "ff02::1", wantReason: ReasonInvalidAddress},
		{name: "link-local service address", links: node, vip: "fe80::5", wantReason: ReasonInvalidAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vip, nodeAddr netip.Addr
			if tt.vip != "" {
				vip = netip.MustParseAddr(tt.vip)
			}
			if tt.node != "" {
				nodeAddr = netip.MustParseAddr(tt.node)
			}
			got, reason := Choose(tt.links, vip, nodeAddr, tt.filter)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Choose() links (-want +got):\n%s", diff)
			}
			if reason != tt.wantReason {
				t.Errorf("Choose() reason = %v, want %v", reason, tt.wantReason)
			}
			if reason.OK() != (len(got) > 0) {
				t.Errorf("Choose() reason %v OK() = %t with %d links", reason, reason.OK(), len(got))
			}
			// The published summary must say what Choose says.
			rr := NewChooser(tt.links, nodeAddr, tt.filter).Reach().Choose(vip)
			if rr.OK() != reason.OK() || (reason.OK() && rr != reason) {
				t.Errorf("Reach().Choose() = %v, Choose() reason %v", rr, reason)
			}
		})
	}
}

func TestExclude(t *testing.T) {
	tests := []struct {
		name   string
		link   Link
		filter Filter
		want   Exclusion
	}{
		{name: "eligible", link: node[1], want: Eligible},
		{name: "loopback", link: node[0], want: ExcludedLoopback},
		{name: "bond port", link: node[2], want: ExcludedSlave},
		{name: "bridge port", link: node[6], want: ExcludedSlave},
		{name: "container bridge", link: node[7], want: ExcludedVirtual},
		{name: "not running", link: node[9], want: ExcludedDown},
		{name: "noarp", link: node[10], want: ExcludedNoARP},
		{name: "admin down", link: Link{Name: "eth9", Flags: FlagRunning}, want: ExcludedDown},
		{name: "denied", link: node[1], filter: Filter{Deny: []string{"eth?"}}, want: ExcludedDenied},
		{name: "not allowed", link: node[1], filter: Filter{Allow: []string{"bond*"}}, want: ExcludedNotAllowed},
		{name: "allowed virtual", link: node[7], filter: Filter{Allow: []string{"cni0"}}, want: Eligible},
		{name: "malformed glob matches nothing", link: node[1], filter: Filter{Deny: []string{"eth["}}, want: Eligible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Exclude(tt.link, node, tt.filter); got != tt.want {
				t.Errorf("Exclude(%s) = %v, want %v", tt.link.Name, got, tt.want)
			}
		})
	}
}

func TestVirtualNames(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"cni0", true}, {"cali1234abcd", true}, {"flannel.1", true}, {"kube-ipvs0", true}, {"docker0", true},
		{"veth9f2e", true}, {"lxc_health", true}, {"tunl0", true}, {"cilium_host", true}, {"vxlan.calico", true},
		{"weave", true}, {"kube-bridge", true}, {"nodelocaldns", true},
		{"eth0", false}, {"ens3", false}, {"bond0", false}, {"br0", false}, {"enp1s0f0.20", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchAny(VirtualNames(), tt.name); got != tt.want {
				t.Errorf("matchAny(VirtualNames(), %q) = %t, want %t", tt.name, got, tt.want)
			}
		})
	}
}

func TestValidateGlobs(t *testing.T) {
	if err := ValidateGlobs([]string{"eth*", "bond[0-9]"}); err != nil {
		t.Errorf("ValidateGlobs(valid) = %v", err)
	}
	err := ValidateGlobs([]string{"eth*", "eth["})
	var ge *GlobError
	if !errors.As(err, &ge) || ge.Glob != "eth[" || !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("ValidateGlobs(malformed) = %v, want a GlobError for \"eth[\" wrapping path.ErrBadPattern", err)
	}
}

func TestReasonString(t *testing.T) {
	for r := ReasonConnected; r <= ReasonInvalidAddress; r++ {
		if r.String() == "Unknown" || r.String() == "" {
			t.Errorf("Reason(%d) has no name", r)
		}
	}
	if got := Reason(0).String(); got != "Unknown" {
		t.Errorf("Reason(0).String() = %q, want Unknown", got)
	}
}

func TestReach(t *testing.T) {
	tests := []struct {
		name  string
		links []Link
		node  string
		want  Reach
	}{
		{name: "typical node", links: node, node: "192.0.2.1", want: Reach{
			Prefixes: prefixes("192.0.2.0/24", "198.51.100.0/25", "203.0.113.0/24", "2001:db8::/64"),
			NodeLink: true,
		}},
		{name: "node link down", links: []Link{node[11]}, node: "192.0.2.200", want: Reach{}},
		{name: "same subnet twice", links: []Link{
			{Name: "eth0", Index: 2, Flags: upRunning, Kind: "device", Prefixes: prefixes("192.0.2.1/24")},
			{Name: "eth1", Index: 3, Flags: upRunning, Kind: "device", Prefixes: prefixes("192.0.2.9/24", "203.0.113.7/32")},
		}, want: Reach{Prefixes: prefixes("192.0.2.0/24")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nodeAddr netip.Addr
			if tt.node != "" {
				nodeAddr = netip.MustParseAddr(tt.node)
			}
			got := NewChooser(tt.links, nodeAddr, Filter{}).Reach()
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("Reach() (-want +got):\n%s", diff)
			}
			if !got.Equal(tt.want) {
				t.Errorf("Equal() = false for equal reaches")
			}
		})
	}
}
