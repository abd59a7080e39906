package config

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/labels"
)

// cmpConfig compares Configs: addresses by value, selectors by their string form.
var cmpConfig = []cmp.Option{
	cmpopts.IgnoreUnexported(Config{}),
	cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}),
	cmp.Comparer(func(a, b labels.Selector) bool { return a.String() == b.String() }),
}

func ptr[T any](v T) *T { return &v }

func mustParseFile(t *testing.T, path string) (*Config, []Warning) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, warns, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(%s) failed: %v", path, err)
	}
	return cfg, warns
}

func mustSelector(t *testing.T, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// TestExampleConfig parses the seed's reference config, shipped verbatim.
func TestExampleConfig(t *testing.T) {
	cfg, warns := mustParseFile(t, "../../manifests/example-config.yaml")
	want := &Config{
		Peers: []Peer{{
			Address:       netip.MustParseAddr("10.0.0.1"),
			ASN:           64512,
			MyASN:         64512,
			Port:          179,
			HoldTime:      120 * time.Second,
			KeepaliveTime: 40 * time.Second,
			RouterID:      netip.MustParseAddr("1.2.3.4"),
			Password:      "yourPassword",
			NodeSelectors: []labels.Selector{mustSelector(t, "kubernetes.io/hostname=prod-01,beta.kubernetes.io/arch in (amd64,arm)")},
		}},
		Pools: []Pool{{
			Name:     "my-ip-space",
			Protocol: BGP,
			Ranges: []Range{
				{First: netip.MustParseAddr("198.51.100.0"), Last: netip.MustParseAddr("198.51.100.255"), Prefix: netip.MustParsePrefix("198.51.100.0/24")},
				{First: netip.MustParseAddr("192.168.0.150"), Last: netip.MustParseAddr("192.168.0.200")},
			},
			AvoidBuggyIPs: true,
			AutoAssign:    false,
			BGPAdvertisements: []BGPAdvertisement{{
				AggregationLength:   32,
				AggregationLengthV6: 128,
				LocalPref:           100,
				Communities:         []Community{{ASN: 64512, Value: 1}, {ASN: 65535, Value: 65281}},
			}},
		}},
		BGPCommunities: map[string]Community{"no-export": {ASN: 65535, Value: 65281}},
	}
	if diff := cmp.Diff(want, cfg, cmpConfig...); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	wantWarns := []Warning{
		{Path: "peers", Message: "BGP is not supported: peers are validated but no BGP session is established"},
		{Path: `address-pools[0] "my-ip-space"`, Message: `BGP is not supported: addresses of pool "my-ip-space" are assigned but not announced`},
	}
	if diff := cmp.Diff(wantWarns, warns); diff != "" {
		t.Errorf("warnings mismatch (-want +got):\n%s", diff)
	}
}

func TestMinimalConfig(t *testing.T) {
	cfg, warns := mustParseFile(t, "../../manifests/minimal-config.yaml")
	want := &Config{Pools: []Pool{{
		Name:       "default",
		Protocol:   Layer2,
		AutoAssign: true,
		Ranges: []Range{
			{First: netip.MustParseAddr("198.51.100.0"), Last: netip.MustParseAddr("198.51.100.255"), Prefix: netip.MustParsePrefix("198.51.100.0/24")},
			{First: netip.MustParseAddr("2001:db8:1::"), Last: netip.MustParseAddr("2001:db8:1::ff"), Prefix: netip.MustParsePrefix("2001:db8:1::/120")},
		},
	}}}
	if diff := cmp.Diff(want, cfg, cmpConfig...); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	if len(warns) != 0 {
		t.Errorf("unexpected warnings: %v", warns)
	}
}

// TestParseDocuments covers how Parse finds the config in its input.
func TestParseDocuments(t *testing.T) {
	configMap := func(name, addr string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata:\n  config: |\n    address-pools:\n    - {name: " + name + ", protocol: layer2, addresses: [" + addr + "]}\n"
	}
	tests := []struct {
		name      string
		input     string
		wantPools []string
		wantErr   []string
	}{
		{name: "raw config", input: "address-pools: [{name: a, protocol: layer2, addresses: [198.51.100.0/24]}]", wantPools: []string{"a"}},
		{name: "ConfigMap", input: configMap("a", "198.51.100.0/24"), wantPools: []string{"a"}},
		{name: "multi-document file", input: "apiVersion: v1\nkind: Namespace\nmetadata: {name: barelb-system}\n---\n" + configMap("b", "198.51.100.0/24") + "---\nkind: ConfigMap\ndata: {other: x}\n", wantPools: []string{"b"}},
		{name: "lines refer to the manifest", input: "---\n" + configMap("a", "198.51.100.0/33"),
			wantErr: []string{`address-pools[0] "a": addresses[0] "198.51.100.0/33": invalid CIDR (line 8)`}},
		{name: "YAML errors inside data.config refer to the manifest", input: configMap("a", "198.51.100.0/24") + "    peers: [\n",
			wantErr: []string{`invalid YAML: did not find expected node content (line 8)`}},
		{name: "folded data.config has no lines", input: "kind: ConfigMap\ndata:\n  config: >\n    address-pools: [{name: a}]\n",
			wantErr: []string{`address-pools[0] "a": missing protocol (layer2 or bgp)`, `address-pools[0] "a": no addresses`}},
		{name: "data.config not a string", input: "kind: ConfigMap\ndata:\n  config: {address-pools: []}\n",
			wantErr: []string{`data.config: must be a string (line 3)`}},
		{name: "two ConfigMaps", input: configMap("a", "198.51.100.0/24") + "---\n" + configMap("b", "203.0.113.0/24"),
			wantErr: []string{`found 2 ConfigMaps with data.config (documents 1, 2), want one`}},
		{name: "no ConfigMap", input: "kind: Namespace\nmetadata: {name: x}\n",
			wantErr: []string{`found no ConfigMap with data.config`}},
		{name: "two raw documents", input: "address-pools: []\n---\npeers: []\n",
			wantErr: []string{`found 2 YAML documents and no ConfigMap with data.config, want one config`}},
		{name: "empty input", input: "", wantPools: nil},
		{name: "merge keys", input: "address-pools:\n- &a {name: a, protocol: layer2, addresses: [198.51.100.0/24]}\n- {<<: *a, name: b, addresses: [203.0.113.0/24]}\n",
			wantPools: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, _, err := Parse([]byte(tt.input))
			if diff := cmp.Diff(tt.wantErr, errLines(t, err)); diff != "" {
				t.Fatalf("errors mismatch (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			var got []string
			for _, p := range cfg.Pools {
				got = append(got, p.Name)
			}
			if diff := cmp.Diff(tt.wantPools, got); diff != "" {
				t.Errorf("pools mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConfigMapData(t *testing.T) {
	tests := []struct {
		name    string
		data    map[string]string
		wantErr []string
	}{
		{name: "valid", data: map[string]string{"config": "address-pools: [{name: a, protocol: layer2, addresses: [198.51.100.0/24]}]"}},
		{name: "missing key", data: map[string]string{"conf": ""}, wantErr: []string{`data: missing key "config"`}},
		{name: "invalid", data: map[string]string{"config": "\npeers: [{}]"},
			wantErr: []string{`peers[0]: missing peer-address (line 2)`, `peers[0]: missing peer-asn (line 2)`, `peers[0]: missing my-asn (line 2)`}},
		{name: "later documents ignored", data: map[string]string{"config": "address-pools: []\n---\nnonsense: 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := ParseConfigMapData(tt.data, "config")
			if diff := cmp.Diff(tt.wantErr, errLines(t, err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseValues checks typed values and defaults.
func TestParseValues(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   *Config
	}{
		{
			name:   "pool defaults and YAML 1.1 booleans",
			config: "address-pools: [{name: a, protocol: layer2, addresses: [198.51.100.1-198.51.100.9], avoid-buggy-ips: yes}]",
			want: &Config{Pools: []Pool{{Name: "a", Protocol: Layer2, AvoidBuggyIPs: true, AutoAssign: true,
				Ranges: []Range{{First: netip.MustParseAddr("198.51.100.1"), Last: netip.MustParseAddr("198.51.100.9")}}}}},
		},
		{
			name:   "IPv4-mapped entries are IPv4",
			config: "address-pools: [{name: a, protocol: layer2, addresses: ['::ffff:198.51.100.0/120', '::ffff:203.0.113.1-203.0.113.2']}]",
			want: &Config{Pools: []Pool{{Name: "a", Protocol: Layer2, AutoAssign: true, Ranges: []Range{
				{First: netip.MustParseAddr("198.51.100.0"), Last: netip.MustParseAddr("198.51.100.255"), Prefix: netip.MustParsePrefix("198.51.100.0/24")},
				{First: netip.MustParseAddr("203.0.113.1"), Last: netip.MustParseAddr("203.0.113.2")},
			}}}},
		},
		{
			name:   "BGP pool gets one default advertisement",
			config: "address-pools: [{name: a, protocol: bgp, addresses: ['2001:db8::/126'], auto-assign: false}]",
			want: &Config{Pools: []Pool{{Name: "a", Protocol: BGP, Ranges: []Range{
				{First: netip.MustParseAddr("2001:db8::"), Last: netip.MustParseAddr("2001:db8::3"), Prefix: netip.MustParsePrefix("2001:db8::/126")},
			}, BGPAdvertisements: []BGPAdvertisement{{AggregationLength: 32, AggregationLengthV6: 128}}}}},
		},
		{
			name: "peer defaults and values",
			config: "bfd-profiles: [{name: fast, receive-interval: 300, echo-mode: true}]\n" +
				"peers: [{peer-address: '2001:db8::1', peer-asn: 4200000000, my-asn: 0x10, peer-port: 0, keepalive-time: 10.5s, source-address: 192.0.2.5, ebgp-multihop: true, bfd-profile: fast, node-selectors: [{}]}]",
			want: &Config{
				BFDProfiles: []BFDProfile{{Name: "fast", ReceiveInterval: ptr[uint32](300), EchoMode: true}},
				Peers: []Peer{{Address: netip.MustParseAddr("2001:db8::1"), ASN: 4200000000, MyASN: 16, Port: 179,
					HoldTime: 90 * time.Second, KeepaliveTime: 10 * time.Second, SourceAddress: netip.MustParseAddr("192.0.2.5"),
					EBGPMultiHop: true, BFDProfile: "fast", NodeSelectors: []labels.Selector{labels.Everything()}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _, err := Parse([]byte(tt.config))
			if err != nil {
				t.Fatalf("Parse() failed: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpConfig...); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
