package allocator

import "net/netip"

// Conflict returns a service other than req.Service that holds addr and that a
// service asking as req may not share it with, and why. The holder is "" (and
// the refusal nil) when addr is free, held only by req.Service, or held only by
// services req.Service may share it with. Only the sharing attributes of req
// (its name, sharing key, ports, traffic policy and selector) matter.
func (a *Allocator) Conflict(req Request, addr netip.Addr) (holder string, why *RefusalError) {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.Zone() != "" {
		return "", nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f := familyOf(addr)
	u := u128Of(addr)
	sh := shareOf(req)
	fi := famIdx(f)
	for h := a.holders(f, u); h != nil; h = h.next(fi) {
		if h.name == req.Service {
			continue
		}
		if err := sharable(addr, h, sh); err != nil {
			return h.name, err
		}
	}
	return "", nil
}
