package membership

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"k8s.io/klog/v2"
)

// Membership is this node's place in the gossip cluster. Create it with New,
// start it with Run; its accessors are safe for concurrent use.
type Membership struct {
	cfg     Config
	logger  klog.Logger
	keyring *memberlist.Keyring // nil when running insecure without keys
	logOut  *logAdapter

	running atomic.Bool
	allow   allowList // sources the gossip port accepts

	mu      sync.Mutex
	ml      *memberlist.Memberlist // set while Run runs
	members map[string]netip.Addr  // live members and their gossip addresses
	joined  bool

	joinedCh  chan struct{}
	changesCh chan struct{}

	macs        metaBook      // the members' published MACs and reach (meta.go)
	metaChanged chan struct{} // SetLocalLinks changed this node's meta

	// leaves counts leave events of other members, for tests.
	leaves atomic.Int64
	// keyMismatches counts key-mismatch log lines, for tests.
	keyMismatches atomic.Int64
	// crashed is set by crash: Run then skips the graceful leave.
	crashed atomic.Bool
	// leaving is set when Run starts leaving: from then on membership
	// events are ignored, so the caller never takes over a peer's addresses
	// on the way out.
	leaving atomic.Bool
}

// New validates cfg and returns a Membership that is not yet running.
func New(cfg Config, logger klog.Logger) (*Membership, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("failed to configure gossip membership: %w", err)
	}
	cfg.Keys = cloneKeys(cfg.Keys)
	m := &Membership{
		cfg:       cfg,
		logger:    logger.WithValues("member", cfg.NodeName),
		members:   map[string]netip.Addr{},
		joinedCh:  make(chan struct{}),
		changesCh: make(chan struct{}, 1),

		metaChanged: make(chan struct{}, 1),
	}
	m.macs.name = cfg.NodeName
	if cfg.AllowedSources != nil {
		m.allow.replace(cfg.AllowedSources)
	}
	if len(cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("failed to build gossip keyring: %w", err)
		}
		m.keyring = kr
	}
	m.logOut = &logAdapter{
		logger:        m.logger.WithName("memberlist"),
		metrics:       cfg.Metrics,
		now:           time.Now,
		onKeyMismatch: func() { m.keyMismatches.Add(1) },
	}
	return m, nil
}

// Run joins the cluster and stays in it until ctx ends, then leaves
// gracefully (peers see the leave within tens of milliseconds) and shuts
// down. Peers are joined at start, every second until the first join
// succeeds, and then every RejoinInterval so that partitions heal. When no
// peer answers within SoloAfter of the first attempt, this node serves as a
// cluster of one and keeps joining. Run may be called once.
func (m *Membership) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("membership is already running")
	}
	mc := m.cfg.memberlistConfig(m.keyring, eventDelegate{m}, m.logOut)
	mc.Delegate = metaDelegate{m}
	if mc.Transport == nil {
		gt, err := newGuardedNetTransport(mc, &m.allow, m.cfg.Metrics)
		if err != nil {
			return fmt.Errorf("failed to start gossip membership: %w", err)
		}
		mc.Transport = gt
		defer gt.Shutdown() // after memberlist's own Shutdown; idempotent
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("failed to start gossip membership: %w", err)
	}
	m.mu.Lock()
	m.ml = ml
	m.mu.Unlock()
	m.logger.Info("gossip membership started", "address", ml.LocalNode().Address(), "encrypted", m.keyring != nil)

	// Joins run in a loop of their own: a join to an unreachable peer
	// blocks for up to TCPTimeout, and nothing here may wait for one. The
	// loop ends with ctx; its last joins may still be waiting for a peer
	// when memberlist shuts down, which fails them, and Run waits for them
	// only after the leave.
	var joins sync.WaitGroup
	defer joins.Wait()
	defer func() {
		if m.crashed.Load() {
			return
		}
		m.leaving.Store(true)
		if err := ml.Leave(leaveTimeout); err != nil {
			m.logger.Error(err, "failed to leave the gossip cluster gracefully; peers will detect the failure instead")
		}
		if err := ml.Shutdown(); err != nil {
			m.logger.Error(err, "failed to shut down gossip membership")
		}
		m.logger.Info("left the gossip cluster")
	}()
	attempting := make(chan struct{})
	joins.Add(1)
	go func() {
		defer joins.Done()
		m.joinLoop(ctx, ml, sync.OnceFunc(func() { close(attempting) }))
	}()

	var solo <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.metaChanged:
			// Here, not in the join loop: a join round may wait for
			// unreachable peers, and the MACs must reach the members now.
			m.updateMeta(ml)
		case <-attempting:
			attempting = nil
			if m.cfg.SoloAfter > 0 {
				t := time.NewTimer(m.cfg.SoloAfter)
				defer t.Stop()
				solo = t.C
			}
		case <-solo:
			solo = nil
			if !m.isJoined() {
				m.serveSolo()
			}
		}
	}
}

// joinLoop runs join rounds until ctx ends: every second until the first
// join succeeded, then every RejoinInterval. attempting is called when a
// round first has peers to try.
func (m *Membership) joinLoop(ctx context.Context, ml *memberlist.Memberlist, attempting func()) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		m.joinRound(ctx, ml, attempting)
		if m.isJoined() {
			timer.Reset(m.cfg.RejoinInterval)
		} else {
			timer.Reset(firstJoinRetry)
		}
	}
}

// serveSolo makes this node a cluster of one because no peer answered
// within SoloAfter: with every other helper down (or unreachable), the
// last one serves rather than nobody. Join rounds go on, so the cluster
// merges as soon as a peer answers; while peers were merely unreachable,
// the addresses they and this node both claim are sorted out on the wire.
func (m *Membership) serveSolo() {
	m.logger.Info("no gossip peer answered: serving as a cluster of one until one does; joining continues in the background",
		"soloAfter", m.cfg.SoloAfter)
	if mt := m.cfg.Metrics; mt != nil {
		mt.soloStarts.Inc()
	}
	m.markJoined()
}

// joinRound joins peers that are not members yet: at most joinFanout of
// them, chosen at random, all at once, so that a round takes one
// TCPTimeout however many peers are down (memberlist's Join tries its
// addresses one after the other, each up to TCPTimeout). Until the first
// join succeeded, an empty peer list (or only this node) counts as a
// successful join: this node is the whole cluster.
func (m *Membership) joinRound(ctx context.Context, ml *memberlist.Memberlist, attempting func()) {
	var peers []netip.AddrPort
	if m.cfg.Peers != nil {
		peers = m.cfg.Peers(ctx)
	}
	self := ml.LocalNode().Address()
	known := map[string]bool{self: true}
	for _, n := range ml.Members() {
		known[n.Address()] = true
	}
	// The gossip binds one address: peers of the other family (a dual-stack
	// Node's second InternalIP) cannot be reached from it.
	selfAddr, _ := netip.ParseAddrPort(self)
	var targets []string
	for _, p := range peers {
		if selfAddr.IsValid() && p.Addr().Unmap().Is4() != selfAddr.Addr().Unmap().Is4() {
			continue
		}
		if p.Port() == 0 {
			p = netip.AddrPortFrom(p.Addr(), uint16(m.cfg.BindPort))
		}
		if s := netip.AddrPortFrom(p.Addr().Unmap(), p.Port()).String(); !known[s] {
			known[s] = true
			targets = append(targets, s)
		}
	}
	first := !m.isJoined()
	if len(targets) == 0 {
		if first && len(ml.Members()) <= 1 && ctx.Err() == nil {
			m.logger.Info("no gossip peers to join: this node is the whole cluster")
			m.markJoined()
		}
		return
	}
	attempting()
	rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	targets = targets[:min(joinFanout, len(targets))]
	type result struct {
		peer string
		err  error
	}
	results := make(chan result, len(targets))
	for _, t := range targets {
		go func() {
			n, err := ml.Join([]string{t})
			if n > 0 {
				err = nil
			}
			results <- result{t, err}
		}()
	}
	var errs []error
	joined := false
	for range targets {
		r := <-results
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		if !joined {
			joined = true
			m.logger.V(2).Info("joined gossip peers", "peer", r.peer, "members", ml.NumMembers())
			m.markJoined()
		}
	}
	switch {
	case joined:
	case first:
		m.logger.Info("failed to join the gossip cluster; retrying", "err", errors.Join(errs...))
	default:
		m.logger.V(2).Info("failed to rejoin gossip peers that are not members", "err", errors.Join(errs...))
	}
}

// SetAllowedSources replaces the addresses gossip is accepted from (the
// Nodes' InternalIPs); see Config.AllowedSources. Safe to call at any time.
func (m *Membership) SetAllowedSources(addrs []netip.Addr) { m.allow.replace(addrs) }

// Members returns the names of the live members, this node included, sorted.
// A suspected member stays a member until it is declared dead.
func (m *Membership) Members() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.members))
	for n := range m.members {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// MemberAddrs returns the live members, this node included, and the
// addresses they gossip from (their node addresses).
func (m *Membership) MemberAddrs() map[string]netip.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.members)
}

// Keys returns the gossip keys, the one that encrypts first; none when the
// gossip runs unencrypted. The heartbeat authenticates with them.
func (m *Membership) Keys() [][]byte {
	if m.keyring == nil {
		return nil
	}
	primary := m.keyring.GetPrimaryKey()
	out := [][]byte{primary}
	for _, k := range m.keyring.GetKeys() {
		if !bytes.Equal(k, primary) {
			out = append(out, k)
		}
	}
	return out
}

// Changes returns a channel that receives a value after the member list
// changed or the first join completed. Notifications coalesce: one value may
// stand for several changes, so a receiver reads Members() afterwards. The
// channel is never closed.
func (m *Membership) Changes() <-chan struct{} { return m.changesCh }

// Joined returns a channel closed once this node has joined the cluster: a
// join through a peer succeeded, a peer joined this node, Peers returned
// no address but this node's own (a cluster of one), or no peer answered
// within SoloAfter (a cluster of one until one does). Until then this node
// must claim nothing, or every starting node would own everything at once.
func (m *Membership) Joined() <-chan struct{} { return m.joinedCh }

// UpdateKeys replaces the gossip keys without a restart: the new keys are
// installed first, then the first becomes the one that encrypts, then keys
// no longer listed are removed. Rotating in three steps on every node —
// [old new], [new old], [new] — never leaves two members unable to talk.
// It fails when the Membership was created without keys.
func (m *Membership) UpdateKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("failed to update gossip keys: %w", ErrNoKey)
	}
	for i, k := range keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("failed to update gossip keys: keys[%d]: %w", i, err)
		}
	}
	if m.keyring == nil {
		return errors.New("failed to update gossip keys: gossip runs unencrypted; restart with a key to encrypt it")
	}
	keys = cloneKeys(keys)
	for _, k := range keys {
		if err := m.keyring.AddKey(k); err != nil {
			return fmt.Errorf("failed to install gossip key: %w", err)
		}
	}
	if err := m.keyring.UseKey(keys[0]); err != nil {
		return fmt.Errorf("failed to switch the primary gossip key: %w", err)
	}
	for _, old := range slices.Clone(m.keyring.GetKeys()) {
		if !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, old) }) {
			if err := m.keyring.RemoveKey(old); err != nil {
				return fmt.Errorf("failed to remove an old gossip key: %w", err)
			}
		}
	}
	m.logger.Info("gossip keys updated", "keys", len(keys))
	return nil
}

// crash stops gossiping at once without leaving, as a killed process would:
// peers have to detect the failure. Tests use it to measure detection.
func (m *Membership) crash() error {
	m.mu.Lock()
	ml := m.ml
	m.mu.Unlock()
	if ml == nil {
		return errors.New("not running")
	}
	m.crashed.Store(true)
	return ml.Shutdown()
}

func (m *Membership) isJoined() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.joined
}

func (m *Membership) markJoined() {
	m.mu.Lock()
	first := !m.joined
	m.joined = true
	n := len(m.members)
	m.mu.Unlock()
	if first {
		m.logger.Info("joined the gossip cluster", "members", n)
		close(m.joinedCh)
		m.notify()
	}
}

// notify signals Changes without blocking.
func (m *Membership) notify() {
	select {
	case m.changesCh <- struct{}{}:
	default:
	}
}

// eventDelegate receives memberlist's membership events. memberlist calls it
// from several goroutines but never concurrently, and it must not block:
// it only updates the member map and signals.
type eventDelegate struct{ m *Membership }

// NotifyJoin records a live member.
func (d eventDelegate) NotifyJoin(n *memberlist.Node) {
	m := d.m
	if m.leaving.Load() {
		return
	}
	m.macs.joined(n)
	m.mu.Lock()
	addr, _ := netip.AddrFromSlice(n.Addr)
	m.members[n.Name] = addr.Unmap()
	count := len(m.members)
	m.mu.Unlock()
	if n.Name == m.cfg.NodeName {
		return
	}
	m.logger.V(1).Info("gossip member joined", "peer", n.Name, "address", n.Address(), "members", count)
	if mt := m.cfg.Metrics; mt != nil {
		mt.members.Set(float64(count))
		mt.events.WithLabelValues("join").Inc()
	}
	// A peer that joined us exchanged the full member list with us: that
	// is as good as our own join.
	m.markJoined()
	m.notify()
}

// NotifyLeave forgets a member that left or was declared dead.
func (d eventDelegate) NotifyLeave(n *memberlist.Node) {
	m := d.m
	if n.Name == m.cfg.NodeName || m.leaving.Load() {
		// Our own graceful leave, or anything seen while we go away:
		// nothing to react to.
		return
	}
	m.macs.gone(n)
	m.mu.Lock()
	delete(m.members, n.Name)
	count := len(m.members)
	m.mu.Unlock()
	m.leaves.Add(1)
	m.logger.V(1).Info("gossip member left", "peer", n.Name, "members", count)
	if mt := m.cfg.Metrics; mt != nil {
		mt.members.Set(float64(count))
		mt.events.WithLabelValues("leave").Inc()
	}
	m.notify()
}

// NotifyUpdate is a member's metadata changing: its published MACs and reach.
func (d eventDelegate) NotifyUpdate(n *memberlist.Node) { d.m.macs.joined(n); d.m.notify() }

func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(k)
	}
	return out
}
