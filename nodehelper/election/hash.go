package election

import "net/netip"

// The ownership hash. Changing anything in this file changes which node owns
// which address, so two versions of barelb running side by side during a
// rolling upgrade would both claim (or both drop) addresses. The golden test
// pins it; do not change it.
//
// For a node name N and a group whose key address is A:
//
//	nodeHash = FNV-1a 64 (offset 14695981039346656037, prime 1099511628211)
//	           over the UTF-8 bytes of N
//	keyHash  = FNV-1a 64 over the 16 bytes of A.As16() (an IPv4 address in
//	           its IPv4-mapped IPv6 form ::ffff:a.b.c.d, network byte order)
//	weight   = SplitMix64 finalizer(nodeHash XOR keyHash), where the
//	           finalizer is
//	             z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
//	             z = (z ^ (z >> 27)) * 0x94d049bb133111eb
//	             z =  z ^ (z >> 31)
//
// The owner is the eligible node with the highest weight; equal weights go to
// the node whose name sorts first (byte-wise).

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// nodeHash is the per-node half of the weight.
func nodeHash(name string) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= fnvPrime64
	}
	return h
}

// keyHash is the per-group half of the weight.
func keyHash(k GroupKey) uint64 {
	b := netip.Addr(k).As16()
	h := uint64(fnvOffset64)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

// mix is the SplitMix64 finalizer, a bijection on uint64.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Weight is the rendezvous weight of node for the group k, as documented in
// the package's hash contract: the eligible node with the highest weight owns
// the group, ties going to the name that sorts first.
func Weight(node string, k GroupKey) uint64 {
	return mix(nodeHash(node) ^ keyHash(k))
}

// beats reports whether a candidate with weight w and name n wins against the
// current best with weight bw and name bn.
func beats(w uint64, n string, bw uint64, bn string) bool {
	return w > bw || (w == bw && n < bn)
}
