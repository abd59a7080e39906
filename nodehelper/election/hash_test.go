package election

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"testing"
)

// TestWeightGolden pins the ownership hash. If this test fails, ownership of
// addresses changes between versions and a rolling upgrade would flap: do not
// update the values, restore the hash.
func TestWeightGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		node string
		addr string
		want uint64
	}{
		{"", "192.0.2.1", 0x06b916a72e24aa00},
		{"", "198.51.100.3", 0x96ae70b2b144dff1},
		{"", "2001:db8::1", 0xa497517a4f5903b5},
		{"", "2001:db8::ffff:1", 0x8f81fb7524b48eb8},
		{"node-a", "192.0.2.1", 0x829de40bd5b1398f},
		{"node-a", "198.51.100.3", 0x521909a03ff8cfe8},
		{"node-a", "2001:db8::1", 0xab93b7b934d1159e},
		{"node-a", "2001:db8::ffff:1", 0x2e5711061a5876fc},
		{"n2", "192.0.2.1", 0xeaa9199d774fe8b8},
		{"n2", "198.51.100.3", 0xd341171e7fea092c},
		{"n2", "2001:db8::1", 0x2946c76e767e6693},
		{"n2", "2001:db8::ffff:1", 0x7be7020398b32197},
		{"worker-17.example", "192.0.2.1", 0x2658eb4ace5e0299},
		{"worker-17.example", "198.51.100.3", 0x0a15b5f6d4ec242d},
		{"worker-17.example", "2001:db8::1", 0xb191f5b995d85d1c},
		{"worker-17.example", "2001:db8::ffff:1", 0xf8d1de4c67f0829b},
	}
	for _, tt := range tests {
		t.Run(tt.node+"/"+tt.addr, func(t *testing.T) {
			k := GroupKey(netip.MustParseAddr(tt.addr))
			if got := Weight(tt.node, k); got != tt.want {
				t.Errorf("Weight(%q, %s) = %#016x, want %#016x", tt.node, tt.addr, got, tt.want)
			}
			if got := referenceWeight(tt.node, k); got != tt.want {
				t.Errorf("documented formula gives %#016x, want %#016x", got, tt.want)
			}
		})
	}
}

// referenceWeight is the package documentation's formula written with the
// standard library's FNV-1a, independently of hash.go.
func referenceWeight(node string, k GroupKey) uint64 {
	hn := fnv.New64a()
	hn.Write([]byte(node))
	ha := fnv.New64a()
	b := k.Addr().As16()
	ha.Write(b[:])
	z := hn.Sum64() ^ ha.Sum64()
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// TestWeightIPv4KeyIsMapped pins that an IPv4 key hashes as its 16-byte
// IPv4-mapped form.
func TestWeightIPv4KeyIsMapped(t *testing.T) {
	t.Parallel()
	var b [16]byte
	binary.BigEndian.PutUint32(b[8:], 0x0000ffff)
	copy(b[12:], []byte{192, 0, 2, 1})
	if got, want := keyHash(GroupKey(netip.MustParseAddr("192.0.2.1"))), keyHash(GroupKey(netip.AddrFrom16(b))); got != want {
		t.Errorf("keyHash(192.0.2.1) = %#x, want keyHash(::ffff:192.0.2.1) = %#x", got, want)
	}
}

func TestExclusionString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		e    Exclusion
		want string
	}{
		{ExcludedByLabel, "excluded by label"},
		{NetworkUnavailable, "network unavailable"},
		{NotReady, "not ready"},
		{NotMember, "not a gossip member"},
		{NoEndpoints, "no ready endpoints"},
		{NoLocalEndpoint, "no ready local endpoint"},
		{NoInterface, "no interface for the address"},
		{Exclusion(0), "Exclusion(0)"},
		{Exclusion(42), "Exclusion(42)"},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("Exclusion(%d).String() = %q, want %q", int(tt.e), got, tt.want)
		}
	}
}
