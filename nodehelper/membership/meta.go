package membership

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"

	"github.com/hashicorp/memberlist"
)

// Each member publishes, in its memberlist node meta, the MACs of the
// interfaces it may announce on, so that an announcer that sees another MAC
// claim one of its addresses can tell a peer in a planned handover (the
// gossip resolves it) from a host outside the gossip (a partition, a
// stranger: the LAN resolves it).

// metaVersion is the first byte of the node meta; a member ignores the MACs
// of a meta version it does not know.
const metaVersion = 1

// maxMetaMACs is how many MACs fit memberlist's 512-byte meta limit
// (memberlist.MetaMaxSize) after the version and count bytes.
const maxMetaMACs = (memberlist.MetaMaxSize - 2) / 6

// encodeMeta returns the node meta holding macs: the version, the count and
// the 6-byte MACs. MACs that are not 6 bytes long are skipped, and at most
// maxMetaMACs are kept.
func encodeMeta(macs []net.HardwareAddr) []byte {
	b := []byte{metaVersion, 0}
	for _, m := range macs {
		if len(m) != 6 || b[1] == maxMetaMACs {
			continue
		}
		b = append(b, m...)
		b[1]++
	}
	return b
}

// decodeMeta returns the MACs of a node meta. An empty meta (a member that
// publishes none) holds no MACs.
func decodeMeta(b []byte) ([]net.HardwareAddr, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != metaVersion {
		return nil, fmt.Errorf("node meta version %d: want %d", b[0], metaVersion)
	}
	if len(b) < 2 || len(b) != 2+6*int(b[1]) {
		return nil, errors.New("node meta: length does not match its MAC count")
	}
	out := make([]net.HardwareAddr, b[1])
	for i := range out {
		out[i] = net.HardwareAddr(bytes.Clone(b[2+6*i : 8+6*i]))
	}
	return out, nil
}

// macBook is what the members publish: the MACs per live member. A member
// that left or died publishes nothing from then on: memberlist does not tell
// a graceful leave from a death (Node.State is not kept up to date), and a
// partitioned peer must not stay trusted. It is safe for concurrent use.
type macBook struct {
	mu    sync.Mutex
	local []byte // this node's encoded meta
	live  map[string][]net.HardwareAddr
}

// setLocal records this node's MACs and reports whether its meta changed.
func (b *macBook) setLocal(macs []net.HardwareAddr) bool {
	sorted := make([]net.HardwareAddr, len(macs))
	copy(sorted, macs)
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i], sorted[j]) < 0 })
	enc := encodeMeta(sorted)
	b.mu.Lock()
	defer b.mu.Unlock()
	if bytes.Equal(enc, b.local) {
		return false
	}
	b.local = enc
	return true
}

// meta returns this node's encoded meta.
func (b *macBook) meta() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.local)
}

// joined records a live member's MACs (a join or a meta update).
func (b *macBook) joined(n *memberlist.Node) {
	macs, _ := decodeMeta(n.Meta) // a meta we cannot read publishes nothing
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.live == nil {
		b.live = map[string][]net.HardwareAddr{}
	}
	b.live[n.Name] = macs
}

// gone forgets a member that left or died.
func (b *macBook) gone(n *memberlist.Node) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.live, n.Name)
}

// macs returns the MACs of the live members and this node's own, sorted and
// without duplicates.
func (b *macBook) macs() []net.HardwareAddr {
	b.mu.Lock()
	defer b.mu.Unlock()
	out, _ := decodeMeta(b.local)
	for _, m := range b.live {
		out = append(out, m...)
	}
	slices.SortFunc(out, func(a, b net.HardwareAddr) int { return bytes.Compare(a, b) })
	return slices.CompactFunc(out, func(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) })
}

// SetLocalMACs publishes the MACs of the interfaces this node may announce
// on (at most 85 of them, memberlist's meta limit). It does not block: a
// change reaches the peers with the next gossip after Run noticed it.
func (m *Membership) SetLocalMACs(macs []net.HardwareAddr) {
	if !m.macs.setLocal(macs) {
		return
	}
	select {
	case m.metaChanged <- struct{}{}:
	default:
	}
}

// MemberMACs returns the MACs the live members publish, this node's
// included. It does not block.
func (m *Membership) MemberMACs() []net.HardwareAddr { return m.macs.macs() }

// metaDelegate gives memberlist this node's meta; barelb sends no user
// messages and no state of its own. memberlist calls it concurrently; it
// does not block.
type metaDelegate struct{ m *Membership }

// NodeMeta implements memberlist.Delegate.
func (d metaDelegate) NodeMeta(limit int) []byte {
	b := d.m.macs.meta()
	if len(b) > limit {
		return nil
	}
	return b
}

// NotifyMsg implements memberlist.Delegate.
func (metaDelegate) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate.
func (metaDelegate) GetBroadcasts(int, int) [][]byte { return nil }

// LocalState implements memberlist.Delegate.
func (metaDelegate) LocalState(bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (metaDelegate) MergeRemoteState([]byte, bool) {}

// updateMeta gossips a changed meta to the peers.
func (m *Membership) updateMeta(ml *memberlist.Memberlist) {
	if err := ml.UpdateNode(leaveTimeout); err != nil {
		m.logger.V(1).Info("failed to gossip this node's MACs", "err", err)
	}
}
