package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// errLines returns the lines of err, nil for nil.
func errLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("error %v (%T) is not an ErrorList", err, err)
	}
	return strings.Split(err.Error(), "\n")
}

// pool renders a one-line config with a single pool given as flow mapping fields.
func pool(fields string) string {
	return "address-pools: [{" + fields + "}]"
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   []string
	}{
		// Pools.
		{"valid", pool("name: a, protocol: layer2, addresses: [198.51.100.0/24]"), nil},
		{"missing pool name", pool("protocol: layer2, addresses: [198.51.100.0/24]"),
			[]string{`address-pools[0]: missing name (line 1)`}},
		{"duplicate pool name",
			"address-pools:\n- {name: a, protocol: layer2, addresses: [198.51.100.0/25]}\n- {name: a, protocol: layer2, addresses: [198.51.100.128/25]}",
			[]string{`address-pools[1] "a": duplicate pool name, first defined at address-pools[0] "a" (line 3)`}},
		{"missing protocol", pool("name: a, addresses: [198.51.100.0/24]"),
			[]string{`address-pools[0] "a": missing protocol (layer2 or bgp) (line 1)`}},
		{"unknown protocol", pool("name: a, protocol: Layer2, addresses: [198.51.100.0/24]"),
			[]string{`address-pools[0] "a": protocol "Layer2": unknown protocol, want layer2 or bgp (line 1)`}},
		{"no addresses", pool("name: a, protocol: layer2"),
			[]string{`address-pools[0] "a": no addresses (line 1)`}},
		{"empty addresses", pool("name: a, protocol: layer2, addresses: []"),
			[]string{`address-pools[0] "a": no addresses (line 1)`}},
		{"addresses not a list", pool("name: a, protocol: layer2, addresses: 198.51.100.0/24"),
			[]string{`address-pools[0] "a": addresses: must be a list (line 1)`}},
		{"invalid CIDR", pool("name: a, protocol: layer2, addresses: [198.51.100.0/33]"),
			[]string{`address-pools[0] "a": addresses[0] "198.51.100.0/33": invalid CIDR (line 1)`}},
		{"zone in CIDR", pool("name: a, protocol: layer2, addresses: ['fe80::%eth0/64']"),
			[]string{`address-pools[0] "a": addresses[0] "fe80::%eth0/64": invalid CIDR (line 1)`}},
		{"neither CIDR nor range", pool("name: a, protocol: layer2, addresses: [198.51.100.7]"),
			[]string{`address-pools[0] "a": addresses[0] "198.51.100.7": neither a CIDR nor a start-end range (line 1)`}},
		{"host bits set IPv4", pool("name: a, protocol: layer2, addresses: [198.51.100.7/24]"),
			[]string{`address-pools[0] "a": addresses[0] "198.51.100.7/24": host bits set, did you mean "198.51.100.0/24"? (line 1)`}},
		{"host bits set IPv6", pool("name: a, protocol: layer2, addresses: ['2001:db8::1/64']"),
			[]string{`address-pools[0] "a": addresses[0] "2001:db8::1/64": host bits set, did you mean "2001:db8::/64"? (line 1)`}},
		{"range start after end", pool("name: a, protocol: layer2, addresses: [198.51.100.9-198.51.100.1]"),
			[]string{`address-pools[0] "a": addresses[0] "198.51.100.9-198.51.100.1": start 198.51.100.9 is after end 198.51.100.1 (line 1)`}},
		{"range of mixed families", pool("name: a, protocol: layer2, addresses: ['198.51.100.1-2001:db8::1']"),
			[]string{`address-pools[0] "a": addresses[0] "198.51.100.1-2001:db8::1": start and end are of different address families (line 1)`}},
		{"range with invalid start", pool("name: a, protocol: layer2, addresses: [198.51.100.x-198.51.100.1]"),
			[]string{`address-pools[0] "a": addresses[0] "198.51.100.x-198.51.100.1": invalid start address "198.51.100.x" (line 1)`}},
		{"range with invalid end", pool("name: a, protocol: layer2, addresses: [198.51.100.1-]"),
			[]string{`address-pools[0] "a": addresses[0] "198.51.100.1-": invalid end address "" (line 1)`}},
		{"range with spaces", pool("name: a, protocol: layer2, addresses: [198.51.100.1 - 198.51.100.9]"), nil},
		{"overlap between pools",
			"address-pools:\n- {name: a, protocol: layer2, addresses: [198.51.100.0/24]}\n- {name: b, protocol: layer2, addresses: [203.0.113.0/24, 198.51.100.128-198.51.100.130]}",
			[]string{`address-pools[1] "b": addresses[1] "198.51.100.128-198.51.100.130": overlaps "198.51.100.0/24" at address-pools[0] "a": addresses[0] (line 3)`}},
		{"overlap within a pool, later one declared first in address order",
			pool("name: a, protocol: layer2, addresses: ['2001:db8::/64', '2001:db8::/48']"),
			[]string{`address-pools[0] "a": addresses[1] "2001:db8::/48": overlaps "2001:db8::/64" at address-pools[0] "a": addresses[0] (line 1)`}},
		{"overlap at one shared address", pool("name: a, protocol: layer2, addresses: [198.51.100.1-198.51.100.5, 198.51.100.5-198.51.100.9]"),
			[]string{`address-pools[0] "a": addresses[1] "198.51.100.5-198.51.100.9": overlaps "198.51.100.1-198.51.100.5" at address-pools[0] "a": addresses[0] (line 1)`}},
		{"adjacent ranges do not overlap", pool("name: a, protocol: layer2, addresses: [198.51.100.0/25, 198.51.100.128/25, '::ffff:203.0.113.0/120', '::/120']"), nil},
		{"overlap of a long range with a later small one",
			pool("name: a, protocol: layer2, addresses: [198.51.100.0-198.51.100.200, 198.51.100.10/31, 198.51.100.100/32]"),
			[]string{
				`address-pools[0] "a": addresses[1] "198.51.100.10/31": overlaps "198.51.100.0-198.51.100.200" at address-pools[0] "a": addresses[0] (line 1)`,
				`address-pools[0] "a": addresses[2] "198.51.100.100/32": overlaps "198.51.100.0-198.51.100.200" at address-pools[0] "a": addresses[0] (line 1)`,
			}},
		{"bgp-advertisements in a layer2 pool", pool("name: a, protocol: layer2, addresses: [198.51.100.0/24], bgp-advertisements: [{}]"),
			[]string{`address-pools[0] "a": bgp-advertisements: not allowed in a layer2 pool (line 1)`}},
		{"empty bgp-advertisements in a layer2 pool", pool("name: a, protocol: layer2, addresses: [198.51.100.0/24], bgp-advertisements: []"), nil},
		{"name not a string", pool("name: {x: y}, protocol: layer2, addresses: [198.51.100.0/24]"),
			[]string{`address-pools[0].name: must be a string (line 1)`, `address-pools[0]: missing name (line 1)`}},
		{"auto-assign not a boolean", pool("name: a, protocol: layer2, addresses: [198.51.100.0/24], auto-assign: maybe"),
			[]string{`address-pools[0] "a": auto-assign "maybe": must be true or false (line 1)`}},

		// BGP advertisements.
		{"aggregation-length above 32", pool("name: a, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: [{aggregation-length: 33}]"),
			[]string{`address-pools[0] "a": bgp-advertisements[0].aggregation-length "33": must be an integer in 0-32 (line 1)`}},
		{"aggregation-length negative", pool("name: a, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: [{aggregation-length: -1}]"),
			[]string{`address-pools[0] "a": bgp-advertisements[0].aggregation-length "-1": must be an integer in 0-32 (line 1)`}},
		{"aggregation-length-v6 above 128", pool("name: a, protocol: bgp, addresses: ['2001:db8::/64'], bgp-advertisements: [{aggregation-length-v6: 129}]"),
			[]string{`address-pools[0] "a": bgp-advertisements[0].aggregation-length-v6 "129": must be an integer in 0-128 (line 1)`}},
		{"aggregation-length shorter than the prefix", pool("name: a, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: [{aggregation-length: 16}]"),
			[]string{`address-pools[0] "a": bgp-advertisements[0].aggregation-length "16": must be at least 24 to stay within "198.51.100.0/24" (line 1)`}},
		{"aggregation-length covering the prefix", pool("name: a, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: [{aggregation-length: 24}]"), nil},
		{"aggregation-length of a range: largest CIDR within is /27",
			pool("name: a, protocol: bgp, addresses: [192.168.0.150-192.168.0.200], bgp-advertisements: [{aggregation-length: 26}]"),
			[]string{`address-pools[0] "a": bgp-advertisements[0].aggregation-length "26": must be at least 27 to stay within "192.168.0.150-192.168.0.200" (line 1)`}},
		{"aggregation-length of a range at the limit", pool("name: a, protocol: bgp, addresses: [192.168.0.150-192.168.0.200], bgp-advertisements: [{aggregation-length: 27}]"), nil},
		{"aggregation-length-v6 shorter than the prefix",
			pool("name: a, protocol: bgp, addresses: [198.51.100.0/24, '2001:db8::/64'], bgp-advertisements: [{aggregation-length: 24, aggregation-length-v6: 48}]"),
			[]string{`address-pools[0] "a": bgp-advertisements[0].aggregation-length-v6 "48": must be at least 64 to stay within "2001:db8::/64" (line 1)`}},
		{"aggregation-length ignores the other family", pool("name: a, protocol: bgp, addresses: ['2001:db8::/64'], bgp-advertisements: [{aggregation-length: 0}]"), nil},
		{"localpref out of range", pool("name: a, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: [{localpref: 4294967296}]"),
			[]string{`address-pools[0] "a": bgp-advertisements[0].localpref "4294967296": must be an integer in 0-4294967295 (line 1)`}},
		{"invalid community", pool("name: a, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: [{communities: ['65536:1', '1:2:3', no-export]}]"),
			[]string{
				`address-pools[0] "a": bgp-advertisements[0].communities[0] "65536:1": invalid community, want asn:value with 16-bit halves or a bgp-communities alias (line 1)`,
				`address-pools[0] "a": bgp-advertisements[0].communities[1] "1:2:3": invalid community, want asn:value with 16-bit halves or a bgp-communities alias (line 1)`,
				`address-pools[0] "a": bgp-advertisements[0].communities[2] "no-export": invalid community, want asn:value with 16-bit halves or a bgp-communities alias (line 1)`,
			}},
		{"defined community alias", "bgp-communities: {no-export: '65535:65281'}\n" + pool("name: a, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: [{communities: [no-export]}]"), nil},
		{"duplicate community", pool("name: a, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: [{communities: ['1:2', '1:2']}]"),
			[]string{`address-pools[0] "a": bgp-advertisements[0].communities[1] "1:2": duplicate community (line 1)`}},
		{"invalid alias value", "bgp-communities:\n  no-export: 65535:65536\n  other: nope",
			[]string{
				`bgp-communities.no-export "65535:65536": invalid community, want asn:value with 16-bit halves (line 2)`,
				`bgp-communities.other "nope": invalid community, want asn:value with 16-bit halves (line 3)`,
			}},
		{"duplicate advertisement", pool("name: a, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: [{localpref: 5}, {localpref: 5}]"),
			[]string{`address-pools[0] "a": bgp-advertisements[1]: duplicate advertisement, same as address-pools[0] "a": bgp-advertisements[0] (line 1)`}},
		{"advertisements differing in what is written are not duplicates",
			pool("name: a, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: [{}, {aggregation-length: 32}]"), nil},

		// Peers.
		{"valid peer", "peers: [{peer-address: 192.0.2.1, peer-asn: 64512, my-asn: 64513}]", nil},
		{"missing peer fields", "peers: [{}]",
			[]string{`peers[0]: missing peer-address (line 1)`, `peers[0]: missing peer-asn (line 1)`, `peers[0]: missing my-asn (line 1)`}},
		{"invalid peer addresses", "peers: [{peer-address: 192.0.2.256, peer-asn: 1, my-asn: 2, router-id: x, source-address: 'fe80::1%eth0'}]",
			[]string{
				`peers[0].peer-address "192.0.2.256": not an IP address (line 1)`,
				`peers[0].router-id "x": not an IP address (line 1)`,
				`peers[0].source-address "fe80::1%eth0": not an IP address (line 1)`,
			}},
		{"ASNs out of range", "peers: [{peer-address: 192.0.2.1, peer-asn: 0, my-asn: 4294967296}]",
			[]string{
				`peers[0].peer-asn "0": must be an integer in 1-4294967295 (line 1)`,
				`peers[0].my-asn "4294967296": must be an integer in 1-4294967295 (line 1)`,
			}},
		{"ASN not a number", "peers: [{peer-address: 192.0.2.1, peer-asn: '64512', my-asn: 1}]",
			[]string{`peers[0].peer-asn "64512": must be an integer in 1-4294967295 (line 1)`}},
		{"peer-port out of range", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, peer-port: 65536}]",
			[]string{`peers[0].peer-port "65536": must be an integer in 0-65535 (line 1)`}},
		{"hold-time not a duration", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 90}]",
			[]string{`peers[0].hold-time "90": not a duration (e.g. 90s) (line 1)`}},
		{"hold-time below 3s", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 2.9s}]",
			[]string{`peers[0].hold-time "2.9s": must be 0 or at least 3s (line 1)`}},
		{"hold-time 0 and keepalive 0", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 0s, keepalive-time: 0s}]", nil},
		{"keepalive-time above hold-time", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 30s, keepalive-time: 31s}]",
			[]string{`peers[0].keepalive-time "31s": must not exceed hold-time (30s) (line 1)`}},
		{"keepalive-time above default hold-time", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, keepalive-time: 2m}]",
			[]string{`peers[0].keepalive-time "2m": must not exceed hold-time (1m30s) (line 1)`}},
		{"ebgp-multihop on an iBGP peer", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 1, ebgp-multihop: true}]",
			[]string{`peers[0].ebgp-multihop: not allowed for an iBGP peer (peer-asn equals my-asn) (line 1)`}},
		{"undefined bfd-profile", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, bfd-profile: fast}]",
			[]string{`peers[0].bfd-profile "fast": not defined in bfd-profiles (line 1)`}},
		{"defined bfd-profile", "bfd-profiles: [{name: fast}]\npeers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, bfd-profile: fast}]", nil},
		{"invalid node selector operator", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, node-selectors: [{match-expressions: [{key: a, operator: Has}]}]}]",
			[]string{`peers[0].node-selectors[0]: invalid selector: "Has" is not a valid label selector operator (line 1)`}},
		{"node selector In without values", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, node-selectors: [{match-expressions: [{key: a, operator: In}]}]}]",
			[]string{`peers[0].node-selectors[0]: invalid selector: values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty (line 1)`}},
		{"node selector invalid label value", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, node-selectors: [{match-labels: {a: 'b c'}}]}]",
			[]string{`peers[0].node-selectors[0]: invalid selector: values[0][a]: Invalid value: "b c": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?') (line 1)`}},
		{"node selector unknown field", "peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, node-selectors: [{matchLabels: {}}]}]",
			[]string{`peers[0].node-selectors[0].matchLabels: unknown field (line 1)`}},
		{"duplicate peer", "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2}\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, peer-port: 179, hold-time: 90s, node-selectors: [{}]}",
			[]string{`peers[1]: duplicate peer, same as peers[0] (line 3)`}},
		{"peers differing in port are not duplicates", "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2}\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, peer-port: 1179}", nil},

		// BFD profiles.
		{"bfd profile errors", "bfd-profiles:\n- {receive-interval: 9}\n- {name: a, detect-multiplier: 256, minimum-ttl: 0}\n- {name: a, echo-mode: 3}",
			[]string{
				`bfd-profiles[0]: missing name (line 2)`,
				`bfd-profiles[0].receive-interval "9": must be an integer in 10-60000 (line 2)`,
				`bfd-profiles[1] "a": detect-multiplier "256": must be an integer in 2-255 (line 3)`,
				`bfd-profiles[1] "a": minimum-ttl "0": must be an integer in 1-254 (line 3)`,
				`bfd-profiles[2] "a": duplicate name, first defined at bfd-profiles[1] (line 4)`,
				`bfd-profiles[2] "a": echo-mode "3": must be true or false (line 4)`,
			}},

		// Structure.
		{"empty config", "", nil},
		{"unknown top-level field", "adress-pools: []",
			[]string{`adress-pools: unknown field (line 1)`}},
		{"unknown pool field", "address-pools:\n- name: a\n  protocol: layer2\n  adresses: [198.51.100.0/24]",
			[]string{`address-pools[0].adresses: unknown field (line 4)`, `address-pools[0] "a": no addresses (line 2)`}},
		{"duplicate key", "address-pools:\n- name: a\n  protocol: layer2\n  name: b\n  addresses: [198.51.100.0/24]",
			[]string{`address-pools[0].name: duplicate key (line 4)`}},
		{"not a mapping", "- a", []string{`must be a mapping (line 1)`}},
		{"YAML syntax error", "address-pools: [", []string{`invalid YAML: did not find expected node content (line 1)`}},
		{"merge keys", "defaults: &d {protocol: layer2}\naddress-pools: [{<<: *d, name: a, addresses: [198.51.100.0/24]}]",
			[]string{`defaults: unknown field (line 1)`}},
		{"self-referencing alias", "address-pools: &a [*a]",
			[]string{`address-pools[0]: must be a mapping (line 1)`}},
		{"all errors are reported",
			"address-pools:\n- {name: a, protocol: layer2, addresses: [198.51.100.0/33]}\n- {name: b, protocol: udp, addresses: [198.51.100.0/24]}",
			[]string{
				`address-pools[0] "a": addresses[0] "198.51.100.0/33": invalid CIDR (line 2)`,
				`address-pools[1] "b": protocol "udp": unknown protocol, want layer2 or bgp (line 3)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Parse([]byte(tt.config))
			if diff := cmp.Diff(tt.want, errLines(t, err)); diff != "" {
				t.Errorf("Parse() errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
