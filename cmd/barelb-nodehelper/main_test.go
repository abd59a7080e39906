package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseFlagsSoloAfter(t *testing.T) {
	base := []string{"--node-name=n1", "--bind-address=192.0.2.1"}
	tests := []struct {
		name    string
		args    []string
		want    time.Duration
		wantErr string
	}{
		{name: "default", want: 2 * time.Second},
		{name: "set", args: []string{"--solo-after=500ms"}, want: 500 * time.Millisecond},
		{name: "never", args: []string{"--solo-after=0"}, want: 0},
		{name: "negative", args: []string{"--solo-after=-1s"}, wantErr: `--solo-after -1s: must not be negative`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _, err := parseFlags(append(append([]string{}, base...), tt.args...))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.soloAfter != tt.want {
				t.Errorf("soloAfter = %v, want %v", o.soloAfter, tt.want)
			}
		})
	}
	if soloAfter(0) >= 0 || soloAfter(time.Second) != time.Second {
		t.Errorf("soloAfter(0) = %v, soloAfter(1s) = %v; want negative (never) and 1s", soloAfter(0), soloAfter(time.Second))
	}
}

func TestParseFlagsIgnoreExcludeLB(t *testing.T) {
	base := []string{"--node-name=n1", "--bind-address=192.0.2.1", "--insecure-gossip"}
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{name: "default: the label excludes", want: false},
		{name: "set", args: []string{"--ignore-exclude-lb"}, want: true},
		{name: "set false", args: []string{"--ignore-exclude-lb=false"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _, err := parseFlags(append(append([]string{}, base...), tt.args...))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, o.ignoreExcludeLB); diff != "" {
				t.Errorf("ignoreExcludeLB (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPeerSourceSet: the join targets and the gossip port's allowed sources
// are the same InternalIPs.
func TestPeerSourceSet(t *testing.T) {
	p := newPeerSource(7946)
	nodes := []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "192.0.2.1"},
			{Type: corev1.NodeInternalIP, Address: "2001:db8::1"},
			{Type: corev1.NodeExternalIP, Address: "198.51.100.1"},
			{Type: corev1.NodeHostName, Address: "a"},
		}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "not-an-ip"},
			{Type: corev1.NodeInternalIP, Address: "::ffff:192.0.2.2"},
		}}},
	}
	allowed := p.set(nodes)
	want := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.2")}
	if diff := cmp.Diff(want, allowed, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("allowed sources mismatch (-want +got):\n%s", diff)
	}
	var wantPeers []netip.AddrPort
	for _, a := range want {
		wantPeers = append(wantPeers, netip.AddrPortFrom(a, 7946))
	}
	if diff := cmp.Diff(wantPeers, p.get(t.Context()), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("peers mismatch (-want +got):\n%s", diff)
	}
}
