package election

import "slices"

// Watched returns the owners of the groups node would take over if their
// owner left, sorted: the nodes whose failure node must notice first. Each
// owner's groups are re-elected as if it had left, on copies, so the table
// itself does not change. It costs about one full election of the owned
// groups and is meant to run after an update was applied, off the path to
// an announcement.
func (t *Table) Watched(node string) []string {
	me, ok := t.nodeIdx[node]
	if !ok || !t.ok[me] {
		return nil
	}
	byOwner := map[int32][]int32{}
	for gi := range t.groups {
		if o := t.groups[gi].owner; o >= 0 && o != me {
			byOwner[o] = append(byOwner[o], int32(gi))
		}
	}
	var out []string
	for o, gis := range byOwner {
		if t.standbyIn(o, gis, me) {
			out = append(out, t.nodes[o].Name)
		}
	}
	if len(byOwner) > 0 {
		t.refreshEligible() // undo the last what-if
	}
	slices.Sort(out)
	return out
}

// standbyIn reports whether node me would own any of the groups gis if
// their owner o left. It leaves t.ok as it found it but the eligible lists
// of the what-if; the caller refreshes them.
func (t *Table) standbyIn(o int32, gis []int32, me int32) bool {
	t.ok[o] = false
	defer func() { t.ok[o] = true }()
	t.refreshEligible()
	for _, gi := range gis {
		g := t.groups[gi] // a copy: elect must not touch the table's group
		t.elect(&g)
		if g.owner == me {
			return true
		}
	}
	return false
}
