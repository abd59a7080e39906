package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseFlagsValidation: each invalid setting is refused with the flag
// named, and the valid ones come out as typed values.
func TestParseFlagsValidation(t *testing.T) {
	base := []string{"--node-name=n1", "--bind-address=192.0.2.1"}
	tests := []struct {
		name    string
		args    []string
		noBase  bool
		wantErr string
	}{
		{name: "node name required", noBase: true, args: []string{"--bind-address=192.0.2.1"}, wantErr: "--node-name is required"},
		{name: "bind address required", noBase: true, args: []string{"--node-name=n1"}, wantErr: `--bind-address "": not an IP address`},
		{name: "bind address not an IP", noBase: true, args: []string{"--node-name=n1", "--bind-address=node1"}, wantErr: `--bind-address "node1": not an IP address`},
		{name: "stray argument", args: []string{"extra"}, wantErr: `unexpected arguments ["extra"]`},
		{name: "no gossip key", args: []string{"--gossip-key-secret="}, wantErr: "no gossip key"},
		{name: "secret not namespace/name", args: []string{"--gossip-key-secret=memberlist"}, wantErr: `--gossip-key-secret "memberlist": want namespace/name`},
		{name: "config map not namespace/name", args: []string{"--config-map=a/b/c"}, wantErr: `--config-map "a/b/c": want namespace/name`},
		{name: "report qps zero", args: []string{"--report-qps=0"}, wantErr: "--report-qps 0 and --report-burst 50: both must be positive"},
		{name: "report burst zero", args: []string{"--report-burst=0"}, wantErr: "--report-qps 10 and --report-burst 0: both must be positive"},
		{name: "bad interface glob", args: []string{"--interfaces=eth[", "--exclude-interfaces=x"}, wantErr: "--interfaces/--exclude-interfaces:"},
		{name: "unknown flag", args: []string{"--no-such-flag"}, wantErr: "flag provided but not defined"},
		{name: "serving no Service at all", args: []string{"--serve-classless=false"}, wantErr: "--serve-classless"},
		{name: "class not a qualified name", args: []string{"--load-balancer-class=not a name"}, wantErr: `invalid --load-balancer-class "not a name"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !tt.noBase {
				args = append(append([]string{}, base...), tt.args...)
			}
			_, _, err := parseFlags(args)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseFlags(%q) error = %v, want %q", args, err, tt.wantErr)
			}
		})
	}
}

func TestParseFlagsValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want options
	}{
		{
			name: "defaults",
			args: []string{"--node-name=n1", "--bind-address=2001:db8::1"},
			want: options{nodeName: "n1", bindAddr: netip.MustParseAddr("2001:db8::1"), keySecret: "barelb-system/memberlist", configMap: "barelb-system/config", configKey: "config"},
		},
		{
			name: "a key file replaces the Secret; lists are split and trimmed",
			args: []string{"--node-name=n1", "--bind-address=192.0.2.1", "--gossip-key-file=/keys/secretkey", "--interfaces= eth*, bond0 ,", "--exclude-interfaces=eth9"},
			want: options{nodeName: "n1", bindAddr: netip.MustParseAddr("192.0.2.1"), keyFile: "/keys/secretkey", configMap: "barelb-system/config", configKey: "config", allow: []string{"eth*", "bond0"}, deny: []string{"eth9"}},
		},
		{
			name: "insecure gossip without a Secret",
			args: []string{"--node-name=n1", "--bind-address=192.0.2.1", "--gossip-key-secret=", "--insecure-gossip"},
			want: options{nodeName: "n1", bindAddr: netip.MustParseAddr("192.0.2.1"), insecureGossip: true, configMap: "barelb-system/config", configKey: "config"},
		},
	}
	// Only the fields the cases set are compared.
	pick := func(o options) options {
		return options{nodeName: o.nodeName, bindAddr: o.bindAddr, keySecret: o.keySecret, keyFile: o.keyFile, insecureGossip: o.insecureGossip, configMap: o.configMap, configKey: o.configKey, allow: o.allow, deny: o.deny}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, logOpts, err := parseFlags(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if logOpts == nil {
				t.Error("parseFlags() returned no logging configuration")
			}
			if diff := cmp.Diff(tt.want, pick(o), cmp.AllowUnexported(options{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("parseFlags() (-want +got):\n%s", diff)
			}
		})
	}
}
