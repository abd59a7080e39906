package membership

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/hashicorp/memberlist"

	"github.com/barelb/barelb/nodehelper/ifaces"
)

// Each member publishes, in its memberlist node meta, the MACs of the
// interfaces it may announce on, so that an announcer that sees another MAC
// claim one of its addresses can tell a peer in a planned handover (the
// gossip resolves it) from a host outside the gossip (a partition, a
// stranger: the LAN resolves it). It also publishes its reach (the connected
// prefixes of those interfaces and whether its node link is usable), so that
// every member elects an owner that can announce the address (see
// election.reachTier).

// The first byte of the node meta is its version; a member ignores the
// meta of a version it does not know.
//
//	version 1: [1][n][n × 6-byte MAC]
//	version 2: version 1's layout, then [flags][m][m × prefix], a prefix
//	           being [4 or 16][bits][address]; flags bit 0: the reach is
//	           published, bit 1: the node link is usable.
const (
	metaV1 = 1
	metaV2 = 2

	flagReach    = 1 << 0
	flagNodeLink = 1 << 1
)

// maxMetaMACs is how many MACs fit memberlist's 512-byte meta limit
// (memberlist.MetaMaxSize) after the version and count bytes and the two
// bytes of an empty reach.
const maxMetaMACs = (memberlist.MetaMaxSize - 4) / 6

// encodeMeta returns the node meta holding macs and reach. MACs that are
// not 6 bytes long are skipped, and at most maxMetaMACs are kept; a reach
// that does not fit in what the MACs leave of memberlist's limit is not
// published (the peers then take this node to reach every address, as
// before reach was published), nor is a nil one.
func encodeMeta(macs []net.HardwareAddr, reach *ifaces.Reach) []byte {
	b := []byte{metaV2, 0}
	for _, m := range macs {
		if len(m) != 6 || b[1] == maxMetaMACs {
			continue
		}
		b = append(b, m...)
		b[1]++
	}
	withReach := append(b, 0, 0)
	if reach == nil || len(reach.Prefixes) > 255 {
		return withReach
	}
	flags := byte(flagReach)
	if reach.NodeLink {
		flags |= flagNodeLink
	}
	withReach[len(b)] = flags
	for _, p := range reach.Prefixes {
		a := p.Addr()
		withReach = append(withReach, byte(a.BitLen()/8), byte(p.Bits()))
		withReach = append(withReach, a.AsSlice()...)
		withReach[len(b)+1]++
	}
	if len(withReach) > memberlist.MetaMaxSize {
		return append(b, 0, 0)
	}
	return withReach
}

// decodeMeta returns the MACs and the reach (nil when not published) of a
// node meta. An empty meta (a member that publishes nothing) holds neither.
func decodeMeta(b []byte) ([]net.HardwareAddr, *ifaces.Reach, error) {
	if len(b) == 0 {
		return nil, nil, nil
	}
	if b[0] != metaV1 && b[0] != metaV2 {
		return nil, nil, fmt.Errorf("node meta version %d: want %d or %d", b[0], metaV1, metaV2)
	}
	if len(b) < 2 || len(b) < 2+6*int(b[1]) {
		return nil, nil, errors.New("node meta: shorter than its MAC count")
	}
	macs := make([]net.HardwareAddr, b[1])
	for i := range macs {
		macs[i] = net.HardwareAddr(bytes.Clone(b[2+6*i : 8+6*i]))
	}
	rest := b[2+6*len(macs):]
	if b[0] == metaV1 {
		if len(rest) != 0 {
			return nil, nil, errors.New("node meta: length does not match its MAC count")
		}
		return macs, nil, nil
	}
	reach, err := decodeReach(rest)
	if err != nil {
		return nil, nil, err
	}
	return macs, reach, nil
}

// decodeReach reads the reach part of a version 2 meta.
func decodeReach(b []byte) (*ifaces.Reach, error) {
	if len(b) < 2 {
		return nil, errors.New("node meta: reach missing")
	}
	flags, n, b := b[0], int(b[1]), b[2:]
	r := &ifaces.Reach{NodeLink: flags&flagNodeLink != 0}
	for i := range n {
		if len(b) < 2 {
			return nil, fmt.Errorf("node meta: prefix %d truncated", i)
		}
		size, bits := int(b[0]), int(b[1])
		if (size != 4 && size != 16) || len(b) < 2+size {
			return nil, fmt.Errorf("node meta: prefix %d: bad length %d", i, size)
		}
		a, _ := netip.AddrFromSlice(b[2 : 2+size])
		p, err := a.Prefix(bits)
		if err != nil || p.Addr() != a {
			return nil, fmt.Errorf("node meta: prefix %d: %v/%d is not a masked prefix", i, a, bits)
		}
		r.Prefixes = append(r.Prefixes, p)
		b = b[2+size:]
	}
	if len(b) != 0 {
		return nil, errors.New("node meta: bytes after the last prefix")
	}
	if flags&flagReach == 0 {
		if n != 0 || flags != 0 {
			return nil, errors.New("node meta: prefixes or flags without a reach")
		}
		return nil, nil
	}
	return r, nil
}

// metaBook is what the members publish: the MACs and the reach per live
// member. A member that left or died publishes nothing from then on:
// memberlist does not tell a graceful leave from a death (Node.State is not
// kept up to date), and a partitioned peer must not stay trusted. It is safe
// for concurrent use.
type metaBook struct {
	mu    sync.Mutex
	name  string // this node's name
	local []byte // this node's encoded meta
	live  map[string]memberMeta
}

// memberMeta is one member's published meta, decoded.
type memberMeta struct {
	macs  []net.HardwareAddr
	reach *ifaces.Reach
}

// setLocal records this node's MACs and reach and reports whether its meta
// changed.
func (b *metaBook) setLocal(macs []net.HardwareAddr, reach *ifaces.Reach) bool {
	sorted := slices.Clone(macs)
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i], sorted[j]) < 0 })
	enc := encodeMeta(sorted, reach)
	b.mu.Lock()
	defer b.mu.Unlock()
	if bytes.Equal(enc, b.local) {
		return false
	}
	b.local = enc
	return true
}

// meta returns this node's encoded meta.
func (b *metaBook) meta() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.local)
}

// joined records a live member's meta (a join or a meta update).
func (b *metaBook) joined(n *memberlist.Node) {
	macs, reach, _ := decodeMeta(n.Meta) // a meta we cannot read publishes nothing
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.live == nil {
		b.live = map[string]memberMeta{}
	}
	b.live[n.Name] = memberMeta{macs: macs, reach: reach}
}

// gone forgets a member that left or died.
func (b *metaBook) gone(n *memberlist.Node) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.live, n.Name)
}

// macs returns the MACs of the live members and this node's own, sorted and
// without duplicates.
func (b *metaBook) macs() []net.HardwareAddr {
	b.mu.Lock()
	defer b.mu.Unlock()
	out, _, _ := decodeMeta(b.local)
	for name, m := range b.live {
		if name != b.name {
			out = append(out, m.macs...)
		}
	}
	slices.SortFunc(out, func(a, b net.HardwareAddr) int { return bytes.Compare(a, b) })
	return slices.CompactFunc(out, func(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) })
}

// reach returns the reach of every live member that publishes one, this
// node's own (as it publishes it) included.
func (b *metaBook) reach() map[string]ifaces.Reach {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]ifaces.Reach, len(b.live)+1)
	for name, m := range b.live {
		if m.reach != nil && name != b.name {
			out[name] = *m.reach
		}
	}
	if _, r, _ := decodeMeta(b.local); r != nil && b.name != "" {
		out[b.name] = *r
	}
	return out
}

// SetLocalLinks publishes the MACs of the interfaces this node may announce
// on (at most 84 of them, memberlist's meta limit) and its reach (see
// ifaces.Reach). It does not block: a change reaches the peers with the next
// gossip after Run noticed it.
func (m *Membership) SetLocalLinks(macs []net.HardwareAddr, reach ifaces.Reach) {
	if !m.macs.setLocal(macs, &reach) {
		return
	}
	m.notify() // this node's own election reads its reach too
	select {
	case m.metaChanged <- struct{}{}:
	default:
	}
}

// MemberReach returns the reach the live members publish, this node's
// included; a member that publishes none (an older version) is absent. It
// does not block.
func (m *Membership) MemberReach() map[string]ifaces.Reach { return m.macs.reach() }

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
