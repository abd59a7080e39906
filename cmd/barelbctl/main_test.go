package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const validConfig = "address-pools: [{name: a, protocol: layer2, addresses: [198.51.100.0/24]}]\n"

func TestRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	valid := write("valid.yaml", validConfig)
	invalid := write("invalid.yaml", "address-pools:\n- {name: a, protocol: layer2, addresses: [198.51.100.0/33]}\n- {name: a, protocol: bgp, addresses: [198.51.100.0/24]}\n")
	bgp := write("bgp.yaml", "address-pools: [{name: b, protocol: bgp, addresses: [198.51.100.0/24]}]\n")
	example := filepath.Join("..", "..", "manifests", "example-config.yaml")

	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout string
		wantStderr string // a substring; empty means stderr must be empty
	}{
		{name: "valid file", args: []string{"validate", valid}, wantCode: 0, wantStdout: "valid\n"},
		{name: "valid stdin", args: []string{"validate", "-"}, stdin: validConfig, wantCode: 0, wantStdout: "valid\n"},
		{name: "warnings", args: []string{"validate", bgp}, wantCode: 0,
			wantStdout: "valid\nwarning: address-pools[0] \"b\": BGP is not supported: addresses of pool \"b\" are assigned but not announced\n"},
		{name: "seed example", args: []string{"validate", example}, wantCode: 0,
			wantStdout: "valid\nwarning: peers: BGP is not supported: peers are validated but no BGP session is established\n" +
				"warning: address-pools[0] \"my-ip-space\": BGP is not supported: addresses of pool \"my-ip-space\" are assigned but not announced\n"},
		{name: "invalid", args: []string{"validate", invalid}, wantCode: 1,
			wantStdout: invalid + `: address-pools[0] "a": addresses[0] "198.51.100.0/33": invalid CIDR (line 2)` + "\n" +
				invalid + `: address-pools[1] "a": duplicate pool name, first defined at address-pools[0] "a" (line 3)` + "\n"},
		{name: "invalid stdin", args: []string{"validate", "-"}, stdin: "adress-pools: []", wantCode: 1,
			wantStdout: "<stdin>: adress-pools: unknown field (line 1)\n"},
		{name: "missing file", args: []string{"validate", filepath.Join(dir, "nope.yaml")}, wantCode: 2, wantStderr: "failed to read config"},
		{name: "no file", args: []string{"validate"}, wantCode: 2, wantStderr: "usage: barelbctl validate"},
		{name: "two files", args: []string{"validate", valid, valid}, wantCode: 2, wantStderr: "usage: barelbctl validate"},
		{name: "bad output format", args: []string{"validate", "-o", "yaml", valid}, wantCode: 2, wantStderr: "usage: barelbctl validate"},
		{name: "unknown flag", args: []string{"validate", "-x", valid}, wantCode: 2, wantStderr: "flag provided but not defined: -x"},
		{name: "no command", args: nil, wantCode: 2, wantStderr: "usage: barelbctl COMMAND"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantStderr: `unknown command "frobnicate"`},
		{name: "help", args: []string{"help"}, wantCode: 0,
			wantStdout: "usage: barelbctl COMMAND [ARGS]\n\ncommands:\n" +
				"  keygen: print a new random gossip key for the memberlist Secret\n" +
				"  status [--kubeconfig FILE] [--config-map NS/NAME] [-o table|json]: configuration, pools and LoadBalancer Services of a cluster\n" +
				"  validate FILE|- [-o text|json]: check a barelb (MetalLB v0.12) configuration\n" +
				"  version: print the barelbctl version\n"},
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: "barelbctl dev\n"},
		{name: "keygen with arguments", args: []string{"keygen", "x"}, wantCode: 2, wantStderr: "usage: barelbctl keygen"},
		{name: "status with arguments", args: []string{"status", "x"}, wantCode: 2, wantStderr: "usage: barelbctl status"},
		{name: "status bad config map", args: []string{"status", "--config-map", "config"}, wantCode: 2, wantStderr: "usage: barelbctl status"},
		{name: "status bad output format", args: []string{"status", "-o", "yaml"}, wantCode: 2, wantStderr: "usage: barelbctl status"},
		{name: "status without cluster", args: []string{"status", "--kubeconfig", filepath.Join(dir, "nope")}, wantCode: 2, wantStderr: "failed to load kubeconfig"},
		{name: "keygen --help", args: []string{"keygen", "--help"}, wantCode: 0, wantStdout: "usage: barelbctl keygen\n"},
		{name: "version -h", args: []string{"version", "-h"}, wantCode: 0, wantStdout: "usage: barelbctl version\n"},
		{name: "status --help", args: []string{"status", "--help"}, wantCode: 0, wantStderr: "usage: barelbctl status"},
		{name: "validate -h", args: []string{"validate", "-h"}, wantCode: 0, wantStderr: "usage: barelbctl validate"},
		{name: "validate help after file", args: []string{"validate", valid, "--help"}, wantCode: 0, wantStderr: "usage: barelbctl validate"},
		{name: "version with arguments", args: []string{"version", "x"}, wantCode: 2, wantStderr: "usage: barelbctl version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if diff := cmp.Diff(tt.wantStdout, stdout.String()); diff != "" {
				t.Errorf("stdout mismatch (-want +got):\n%s", diff)
			}
			if tt.wantStderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestValidateJSON(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		want     string
	}{
		{name: "valid, flag after file", args: []string{"-", "-o", "json"}, stdin: "address-pools: [{name: b, protocol: bgp, addresses: [198.51.100.0/24]}]",
			want: `{"file":"<stdin>","valid":true,"errors":[],"warnings":[{"path":"address-pools[0] \"b\"","message":"BGP is not supported: addresses of pool \"b\" are assigned but not announced"}]}`},
		{name: "invalid, flag before file", args: []string{"-o", "json", "-"}, stdin: "\naddress-pools: [{name: a, protocol: layer2, addresses: [198.51.100.1/24]}]", wantCode: 1,
			want: `{"file":"<stdin>","valid":false,"errors":[{"path":"address-pools[0] \"a\": addresses[0]","line":2,"value":"198.51.100.1/24","message":"host bits set, did you mean \"198.51.100.0/24\"?"}],"warnings":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := runValidate(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			var got, want any
			if err := json.Unmarshal([]byte(stdout.String()), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
