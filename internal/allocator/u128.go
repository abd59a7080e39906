package allocator

import (
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
)

// u128 is an address as an unsigned 128-bit number, for arithmetic on IPv6
// ranges. An IPv4 address uses only the low 32 bits.
type u128 struct {
	hi, lo uint64
}

var maxU128 = u128{math.MaxUint64, math.MaxUint64}

// u128Of returns the number of a. IPv4 addresses (not IPv4-mapped IPv6) map
// to 0..2^32-1.
func u128Of(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

// addr returns the address of family f with number u.
func (u u128) addr(f Family) netip.Addr {
	if f == IPv4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

func (u u128) cmp(v u128) int {
	switch {
	case u.hi < v.hi:
		return -1
	case u.hi > v.hi:
		return 1
	case u.lo < v.lo:
		return -1
	case u.lo > v.lo:
		return 1
	}
	return 0
}

func (u u128) less(v u128) bool { return u.cmp(v) < 0 }

// add returns u+v, saturating at maxU128.
func (u u128) add(v u128) u128 {
	lo, c := bits.Add64(u.lo, v.lo, 0)
	hi, c := bits.Add64(u.hi, v.hi, c)
	if c != 0 {
		return maxU128
	}
	return u128{hi, lo}
}

// sub returns u-v, or 0 when v > u.
func (u u128) sub(v u128) u128 {
	lo, b := bits.Sub64(u.lo, v.lo, 0)
	hi, b := bits.Sub64(u.hi, v.hi, b)
	if b != 0 {
		return u128{}
	}
	return u128{hi, lo}
}

func (u u128) inc() u128 { return u.add(u128{lo: 1}) }
func (u u128) dec() u128 { return u.sub(u128{lo: 1}) }

// uint64 returns u, saturating at math.MaxUint64.
func (u u128) uint64() uint64 {
	if u.hi != 0 {
		return math.MaxUint64
	}
	return u.lo
}
