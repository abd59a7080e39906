package membership

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/netip"
	"time"

	"github.com/hashicorp/memberlist"
)

// Defaults. The timing profile detects a crashed member of a three-member
// cluster on 127.0.0.1 in ≈ 0.47–0.50 s at the median and ≈ 0.6–0.7 s at the
// 99th percentile in our measurements (memberlist's own LAN defaults take
// 6–7 s), while the
// suspicion rules still need a second member's confirmation (SuspicionMult 3;
// with 2 a single member's missed acks alone kill a peer, which a saturated
// CPU does several times a minute). See TestFailureDetection and
// TestNoFalseFailureUnderCPUHog, and RaisePriority for the other half of the
// no-false-failure story. Larger clusters detect somewhat later: the
// suspicion timeout grows with log10 of the member count.
const (
	// DefaultPort is the UDP and TCP port members bind and expect of peers.
	DefaultPort = 7946
	// DefaultProbeInterval is how often a member probes a random peer.
	DefaultProbeInterval = 100 * time.Millisecond
	// DefaultProbeTimeout is how long a member waits for a direct ack before
	// asking others to probe indirectly.
	DefaultProbeTimeout = 50 * time.Millisecond
	// DefaultSuspicionMult scales how long a suspected member has to refute
	// before it is declared dead: SuspicionMult × max(1, log10(members)) ×
	// ProbeInterval once another member confirms the suspicion (memberlist
	// waits for SuspicionMult−2 confirmations, up to 6 times longer without).
	DefaultSuspicionMult = 3
	// DefaultGossipInterval is how often queued state changes are gossiped
	// to a few random peers; it bounds how fast suspicions, their
	// confirmations and deaths spread. Nothing is sent when nothing changed.
	DefaultGossipInterval = 20 * time.Millisecond
	// DefaultRejoinInterval is how often peers that are not members are
	// joined again, so that a partition heals.
	DefaultRejoinInterval = 15 * time.Second

	// gossipNodes is the fan-out of each gossip round.
	gossipNodes = 4
	// streamTimeout bounds a TCP push/pull (join, anti-entropy) on a LAN.
	streamTimeout = 2 * time.Second
	// leaveTimeout bounds how long a graceful leave waits for its broadcast.
	leaveTimeout = 500 * time.Millisecond
	// deadNodeReclaimTime lets a node that died come back under the same name
	// from a new address (a replaced machine) after this long.
	deadNodeReclaimTime = 30 * time.Second
	// DefaultSoloAfter is how long a member that reaches no peer waits
	// before it serves as a cluster of one: one stream timeout, so every
	// join of the first round has had its full TCPTimeout to answer.
	DefaultSoloAfter = streamTimeout

	// joinFanout is how many peers one join round contacts, concurrently;
	// one success is enough, since a push/pull exchanges the whole member
	// list.
	joinFanout = 4
	// firstJoinRetry is the retry period until the first join succeeded.
	firstJoinRetry = time.Second
)

// Config configures a Membership. Zero durations and counts take the defaults.
type Config struct {
	// NodeName is the member name: the Kubernetes node name. Required.
	NodeName string
	// BindAddr is the node's address to bind and advertise. Required unless
	// Transport is set.
	BindAddr netip.Addr
	// BindPort is the UDP and TCP port; 0 means DefaultPort.
	BindPort int

	// Keys are the gossip encryption keys (16, 24 or 32 bytes each, AES-128,
	// -192 or -256). The first encrypts, all decrypt. Required unless
	// Insecure is set.
	Keys [][]byte
	// Insecure allows running without Keys, unencrypted.
	Insecure bool

	// ProbeInterval is memberlist's ProbeInterval; 0 means
	// DefaultProbeInterval.
	ProbeInterval time.Duration
	// ProbeTimeout is memberlist's ProbeTimeout; 0 means DefaultProbeTimeout.
	// It must be shorter than ProbeInterval.
	ProbeTimeout time.Duration
	// SuspicionMult is memberlist's SuspicionMult; 0 means
	// DefaultSuspicionMult.
	SuspicionMult int
	// GossipInterval is memberlist's GossipInterval; 0 means
	// DefaultGossipInterval.
	GossipInterval time.Duration
	// RejoinInterval is how often peers that are not members are joined
	// again; 0 means DefaultRejoinInterval.
	RejoinInterval time.Duration

	// SoloAfter is how long after the first join attempt a member that has
	// reached no peer (and that no peer reached) serves as a cluster of one:
	// Joined closes and it keeps joining in the background. 0 means
	// DefaultSoloAfter; negative means never.
	SoloAfter time.Duration

	// AllowedSources are the addresses the gossip port accepts packets and
	// streams from until SetAllowedSources replaces them; nil accepts none.
	// Only the built-in UDP/TCP transport filters (not Transport).
	AllowedSources []netip.Addr

	// Peers returns the addresses to join through, for example the
	// InternalIPs of the Ready Nodes; a zero port means BindPort. It is called
	// when Run starts (and every second until the first join succeeds) and
	// then every RejoinInterval. It may include this node's own address. It
	// must return promptly and may be nil (no peers: a cluster of one).
	Peers func(ctx context.Context) []netip.AddrPort

	// Transport replaces memberlist's UDP/TCP transport, for tests with
	// memberlist.MockNetwork. BindAddr and BindPort are then unused.
	Transport memberlist.Transport

	// Metrics receives the membership metrics; nil means none.
	Metrics *Metrics
}

// withDefaults returns c with zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.BindPort == 0 {
		c.BindPort = DefaultPort
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.SuspicionMult == 0 {
		c.SuspicionMult = DefaultSuspicionMult
	}
	if c.GossipInterval == 0 {
		c.GossipInterval = DefaultGossipInterval
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = DefaultRejoinInterval
	}
	if c.SoloAfter == 0 {
		c.SoloAfter = DefaultSoloAfter
	}
	return c
}

// ErrNoKey is returned by New when no gossip key is given and Insecure is
// not set.
var ErrNoKey = errors.New("no gossip key: gossip is always encrypted unless explicitly run insecure")

// validate reports every problem of a Config with defaults applied.
func (c Config) validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("node name is required"))
	}
	if c.Transport == nil && !c.BindAddr.IsValid() {
		errs = append(errs, errors.New("bind address is required"))
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		errs = append(errs, fmt.Errorf("bind port %d: must be 1-65535", c.BindPort))
	}
	if len(c.Keys) == 0 && !c.Insecure {
		errs = append(errs, ErrNoKey)
	}
	for i, k := range c.Keys {
		if err := memberlist.ValidateKey(k); err != nil {
			errs = append(errs, fmt.Errorf("keys[%d]: %w", i, err))
		}
	}
	if c.ProbeInterval < 0 || c.ProbeTimeout < 0 || c.GossipInterval < 0 || c.RejoinInterval < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.ProbeTimeout >= c.ProbeInterval {
		errs = append(errs, fmt.Errorf("probe timeout %v must be shorter than probe interval %v", c.ProbeTimeout, c.ProbeInterval))
	}
	if c.SuspicionMult < 1 {
		errs = append(errs, fmt.Errorf("suspicion multiplier %d: must be at least 1", c.SuspicionMult))
	}
	return errors.Join(errs...)
}

// memberlistConfig builds memberlist's configuration. Each deviation from
// DefaultLANConfig is explained.
func (c Config) memberlistConfig(kr *memberlist.Keyring, events memberlist.EventDelegate, logOut io.Writer) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeName
	if c.Transport != nil {
		mc.Transport = c.Transport
	} else {
		mc.BindAddr = c.BindAddr.String()
		mc.BindPort = c.BindPort
		mc.AdvertisePort = c.BindPort
	}
	// The fast-detection profile.
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.GossipInterval = c.GossipInterval
	mc.GossipNodes = gossipNodes
	// A LAN: joins and push/pull syncs complete in milliseconds, and a dead
	// peer should not hold a join for memberlist's default 10 s.
	mc.TCPTimeout = streamTimeout
	// The fallback TCP ping only helps when UDP is filtered but TCP is not; on
	// the node network that is a misconfiguration to surface, not to paper
	// over, and each one holds a goroutine and a connection per probe.
	mc.DisableTcpPings = true
	// Packets are small and the LAN is fast: compression costs CPU for nothing.
	mc.EnableCompression = false
	mc.DeadNodeReclaimTime = deadNodeReclaimTime
	if kr != nil {
		mc.Keyring = kr
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
	}
	mc.Events = events
	mc.Logger = log.New(logOut, "", 0)
	mc.LogOutput = nil
	return mc
}
