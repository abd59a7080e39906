package report

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/nodehelper/election"
)

// NoEligibleNode states why no node announces addrs, per class of node:
// excluded holds the nodes excluded for each reason.
func NoEligibleNode(addrs []netip.Addr, excluded map[election.Exclusion][]string) string {
	reasons := make([]election.Exclusion, 0, len(excluded))
	for r := range excluded {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool { return reasons[i] < reasons[j] })
	var parts []string
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%s: %s", r, strings.Join(excluded[r], ", ")))
	}
	if len(parts) == 0 {
		parts = append(parts, "no nodes")
	}
	return fmt.Sprintf("no node can announce %s: %s", Addrs(addrs), strings.Join(parts, "; "))
}

// NotInPool says why addrs, outside every layer2 pool, are not announced;
// noConfig is whether no valid configuration has been read at all.
func NotInPool(noConfig bool, addrs []netip.Addr) string {
	if noConfig {
		return fmt.Sprintf("%s not announced: no valid configuration has been read, so no address is in a layer2 pool", Addrs(addrs))
	}
	return contract.NotInPoolMessage(addrs)
}

// NoInterface says that node owns addrs but has no interface to announce
// them on.
func NoInterface(node string, addrs []netip.Addr) string {
	return fmt.Sprintf("node %s owns %s but has no interface to announce it on", node, Addrs(addrs))
}

// Addrs lists addrs, comma-separated, in the order given.
func Addrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
