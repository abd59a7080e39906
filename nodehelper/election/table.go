package election

import (
	"runtime"
	"slices"
	"sync"

	"github.com/barelb/barelb/nodehelper/ifaces"
)

// Change is one group changing hands.
type Change struct {
	// Group is the group's key.
	Group GroupKey
	// From is the previous owner, "" if the group had none or is new.
	From string
	// To is the new owner, "" if the group has none now or is gone.
	To string
}

// Changes are the ownership changes of one update, sorted by group key.
type Changes []Change

// For returns the groups node gained and lost in these changes.
func (cs Changes) For(node string) (gained, lost []GroupKey) {
	for _, c := range cs {
		switch node {
		case c.To:
			gained = append(gained, c.Group)
		case c.From:
			lost = append(lost, c.Group)
		}
	}
	return gained, lost
}

// Table holds the owner of every group and keeps it current as gossip members
// come and go, touching only what must change: when a member leaves, only the
// groups it owned are re-elected; when one joins, it takes only the groups
// where it now has the highest weight. The result is always the one
// Candidates computes from the same view.
//
// A Table is not safe for concurrent use. The zero value is an empty table.
type Table struct {
	// nodes are the view's Nodes sorted by name, so an index order is a name
	// order and ties can be broken by index.
	nodes    []NodeInfo
	nodeHash []uint64
	// ok[i]: node i is usable and a live member, i.e. may own a group.
	ok []bool
	// eligHash and eligIdx are the hashes and indices of the ok nodes, in
	// name order.
	eligHash []uint64
	eligIdx  []int32
	nodeIdx  map[string]int32
	// members are the live gossip members, including names without a Node.
	members map[string]bool

	// class[i] is the index in classes of node i's published reach, -1 when
	// it publishes none; eligClasses are the classes of the ok nodes, -1
	// included, each once.
	class       []int32
	classes     []ifaces.Reach
	eligClasses []int32
	// tierSets interns the tierSets of the groups by their ok pattern, so
	// the many groups of one subnet share one (and its node arrays). It is
	// emptied whenever the nodes' eligibility or reach changes. The mutex
	// guards it during a parallel electAll.
	tierMu   sync.Mutex
	tierSets map[string]*tierSet

	groups   []tgroup
	groupIdx map[GroupKey]int32
	// localGroups[i] are the Local-policy groups node i holds endpoints for.
	localGroups [][]int32
}

// tgroup is a group with its hash, the node indices its requirement admits
// (for Local policy), and its current owner.
type tgroup struct {
	group
	hash uint64
	// local are the indices of req.localNodes that are known nodes, ascending.
	local []int32
	// owner is a node index or -1; weight is the owner's weight.
	owner  int32
	weight uint64
	// tiers, when not nil, are the reach classes of the group's best tier;
	// nil means every candidate is of it.
	tiers *tierSet
}

// Recompute replaces the table's view and elects every group afresh. It
// returns how ownership changed compared with the previous view.
func (t *Table) Recompute(v View) Changes {
	old := t.ownerMap()

	t.nodes = sortedNodes(v.Nodes)
	n := len(t.nodes)
	t.nodeHash = make([]uint64, n)
	t.ok = make([]bool, n)
	t.nodeIdx = make(map[string]int32, n)
	t.members = make(map[string]bool, len(v.Members))
	for _, m := range v.Members {
		t.members[m] = true
	}
	for i, nd := range t.nodes {
		t.nodeHash[i] = nodeHash(nd.Name)
		t.nodeIdx[nd.Name] = int32(i)
		t.ok[i] = nodeExclusion(nd, t.members[nd.Name]) == 0
	}
	t.setClasses(v.Reach)
	t.refreshEligible()

	gs := buildGroups(v.Services)
	t.groups = make([]tgroup, len(gs))
	t.groupIdx = make(map[GroupKey]int32, len(gs))
	t.localGroups = make([][]int32, n)
	for gi := range gs {
		tg := &t.groups[gi]
		tg.group = gs[gi]
		tg.hash = keyHash(tg.Key)
		t.groupIdx[tg.Key] = int32(gi)
		if tg.req.local {
			for _, name := range tg.req.localNodes {
				if ni, ok := t.nodeIdx[name]; ok {
					tg.local = append(tg.local, ni)
					t.localGroups[ni] = append(t.localGroups[ni], int32(gi))
				}
			}
			slices.Sort(tg.local)
		}
	}
	t.electAll()
	return t.changesSince(old)
}

// changesSince returns how ownership changed since old, an ownerMap.
func (t *Table) changesSince(old map[GroupKey]string) Changes {
	var cs Changes
	for _, g := range t.groups {
		to := t.ownerName(g.owner)
		if from := old[g.Key]; from != to {
			cs = append(cs, Change{Group: g.Key, From: from, To: to})
		}
		delete(old, g.Key)
	}
	for k, from := range old {
		if from != "" {
			cs = append(cs, Change{Group: k, From: from})
		}
	}
	sortChanges(cs)
	return cs
}

// SetReach replaces what the members publish they can announce on (see
// View.Reach) and re-elects every group if that changes the reach of a node
// that may own one.
func (t *Table) SetReach(reach map[string]ifaces.Reach) Changes {
	oldClass, oldClasses := t.class, t.classes // setClasses makes new ones
	t.setClasses(reach)
	changed := false
	for i := range t.nodes {
		if !t.ok[i] {
			continue
		}
		was, now := oldClass[i], t.class[i]
		if (was < 0) != (now < 0) || (was >= 0 && !oldClasses[was].Equal(t.classes[now])) {
			changed = true
			break
		}
	}
	t.refreshEligible()
	if !changed {
		// No candidate's tier changed, so no owner does; the classes were
		// renumbered, though.
		for gi := range t.groups {
			if g := &t.groups[gi]; !g.req.noEndpoints {
				t.restrict(g)
			}
		}
		return nil
	}
	return t.reelect()
}

// reelect elects every group afresh from the current nodes, members and
// reach, and returns what changed.
func (t *Table) reelect() Changes {
	old := t.ownerMap()
	t.electAll()
	return t.changesSince(old)
}

// setClasses records each node's reach from reach, as classes of equal
// reach.
func (t *Table) setClasses(reach map[string]ifaces.Reach) {
	t.class = make([]int32, len(t.nodes))
	t.classes = nil
	for i, nd := range t.nodes {
		t.class[i] = -1
		r, ok := reach[nd.Name]
		if !ok {
			continue
		}
		ci := slices.IndexFunc(t.classes, r.Equal)
		if ci < 0 {
			ci = len(t.classes)
			t.classes = append(t.classes, r)
		}
		t.class[i] = int32(ci)
	}
}

// parallelWork is the number of weight computations above which a full
// recompute spreads the groups over the available CPUs.
const parallelWork = 1 << 20

// electAll elects every group from scratch. Each group's election only reads
// the node arrays and writes its own entry, so splitting the groups over
// goroutines gives the same result as one pass.
func (t *Table) electAll() {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || len(t.groups)*len(t.eligHash) < parallelWork {
		for gi := range t.groups {
			t.elect(&t.groups[gi])
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(t.groups) + workers - 1) / workers
	for lo := 0; lo < len(t.groups); lo += chunk {
		part := t.groups[lo:min(lo+chunk, len(t.groups))]
		wg.Go(func() {
			for gi := range part {
				t.elect(&part[gi])
			}
		})
	}
	wg.Wait()
}

// elect sets the owner of g from scratch.
func (t *Table) elect(g *tgroup) {
	g.owner, g.weight = -1, 0
	g.tiers = nil
	if g.req.noEndpoints {
		return
	}
	t.restrict(g)
	// Candidates are visited in name order, so a strictly higher weight is
	// needed to take over: equal weights stay with the earlier name.
	if g.req.local {
		for _, i := range g.local {
			if !t.ok[i] || !t.reachAllows(g, i) {
				continue
			}
			if w := mix(t.nodeHash[i] ^ g.hash); g.owner < 0 || w > g.weight {
				g.owner, g.weight = i, w
			}
		}
		return
	}
	if g.tiers != nil {
		if len(g.tiers.eligHash) > 0 {
			i, w := electAmong(g.tiers.eligHash, g.hash)
			g.owner, g.weight = g.tiers.eligIdx[i], w
		}
		return
	}
	if len(t.eligHash) > 0 {
		i, w := electAmong(t.eligHash, g.hash)
		g.owner, g.weight = t.eligIdx[i], w
	}
}

// tierSet is the reach classes of a group's best tier, and the ok nodes of
// those classes as eligHash and eligIdx are for all.
type tierSet struct {
	// ok says per reach class (index class+1; 0 for a node that publishes
	// none) whether its nodes are of the best tier.
	ok       []bool
	eligHash []uint64
	eligIdx  []int32
}

// tierSetFor returns the interned tierSet of the pattern ok.
func (t *Table) tierSetFor(ok []bool) *tierSet {
	key := make([]byte, len(ok))
	for i, b := range ok {
		if b {
			key[i] = 1
		}
	}
	t.tierMu.Lock()
	defer t.tierMu.Unlock()
	if ts, found := t.tierSets[string(key)]; found {
		return ts
	}
	ts := &tierSet{ok: slices.Clone(ok)}
	for j, i := range t.eligIdx {
		if ts.ok[t.class[i]+1] {
			ts.eligHash = append(ts.eligHash, t.eligHash[j])
			ts.eligIdx = append(ts.eligIdx, i)
		}
	}
	if t.tierSets == nil {
		t.tierSets = map[string]*tierSet{}
	}
	t.tierSets[string(key)] = ts
	return ts
}

// restrict sets g.tiers from the tiers of g's candidates (see reachTier):
// nil when they are all of the best tier, which is the rule, so that a
// cluster whose nodes all reach the same subnets pays one tier per reach
// class and group, not per node.
func (t *Table) restrict(g *tgroup) {
	g.tiers = nil
	if len(t.classes) == 0 {
		return
	}
	var buf [16]tier
	tiers := buf[:0]
	for ci := range t.classes {
		tiers = append(tiers, reachTier(&t.classes[ci], g.Addresses))
	}
	tierOf := func(c int32) tier {
		if c < 0 {
			return tierConnected
		}
		return tiers[c]
	}
	// The classes of g's candidates.
	var cbuf [16]int32
	cands := cbuf[:0]
	if g.req.local {
		for _, i := range g.local {
			if t.ok[i] && !slices.Contains(cands, t.class[i]) {
				cands = append(cands, t.class[i])
			}
		}
	} else {
		cands = append(cands, t.eligClasses...)
	}
	top := tierNone
	for _, c := range cands {
		top = max(top, tierOf(c))
	}
	uniform := top > tierNone
	for _, c := range cands {
		uniform = uniform && tierOf(c) == top
	}
	if uniform {
		return
	}
	var obuf [17]bool
	ok := obuf[:0]
	for c := int32(-1); c < int32(len(t.classes)); c++ {
		ok = append(ok, top > tierNone && tierOf(c) == top)
	}
	g.tiers = t.tierSetFor(ok)
}

// reachAllows reports whether g's best tier admits node i.
func (t *Table) reachAllows(g *tgroup, i int32) bool {
	return g.tiers == nil || g.tiers.ok[t.class[i]+1]
}

// electAmong returns the index of the highest weight among the node hashes hs
// (non-empty, in name order) for key hash kh, the first on ties, and the
// weight. It is the hot loop of a full recompute: four independent chains per
// iteration let the CPU overlap the multiplications.
func electAmong(hs []uint64, kh uint64) (int, uint64) {
	best, bw := 0, mix(hs[0]^kh)
	i := 1
	for ; i+4 <= len(hs); i += 4 {
		w0, w1, w2, w3 := mix(hs[i]^kh), mix(hs[i+1]^kh), mix(hs[i+2]^kh), mix(hs[i+3]^kh)
		if w0 > bw {
			best, bw = i, w0
		}
		if w1 > bw {
			best, bw = i+1, w1
		}
		if w2 > bw {
			best, bw = i+2, w2
		}
		if w3 > bw {
			best, bw = i+3, w3
		}
	}
	for ; i < len(hs); i++ {
		if w := mix(hs[i] ^ kh); w > bw {
			best, bw = i, w
		}
	}
	return best, bw
}

// refreshEligible rebuilds the compact list of nodes that may own a
// Cluster-policy group.
func (t *Table) refreshEligible() {
	t.eligHash, t.eligIdx, t.eligClasses = t.eligHash[:0], t.eligIdx[:0], t.eligClasses[:0]
	t.tierSets = nil // built from these arrays; the groups keep theirs until re-elected
	for i, ok := range t.ok {
		if ok {
			t.eligHash = append(t.eligHash, t.nodeHash[i])
			t.eligIdx = append(t.eligIdx, int32(i))
			if c := t.class[i]; len(t.classes) > 0 && !slices.Contains(t.eligClasses, c) {
				t.eligClasses = append(t.eligClasses, c)
			}
		}
	}
}

// MemberLeft records that a gossip member is gone and re-elects only the
// groups it owned. That holds with reach tiers too: an owner is of its
// group's best tier, and a member leaving cannot lower that.
func (t *Table) MemberLeft(name string) Changes {
	if t.members == nil || !t.members[name] {
		return nil
	}
	delete(t.members, name)
	ni, ok := t.nodeIdx[name]
	if !ok || !t.ok[ni] {
		return nil
	}
	t.ok[ni] = false
	t.refreshEligible()
	var cs Changes
	for gi := range t.groups {
		g := &t.groups[gi]
		if g.owner != ni {
			continue
		}
		t.elect(g)
		cs = append(cs, Change{Group: g.Key, From: name, To: t.ownerName(g.owner)})
	}
	return cs
}

// MemberJoined records that a gossip member is alive and gives it exactly
// the groups where it now has the highest weight.
func (t *Table) MemberJoined(name string) Changes {
	if t.members == nil {
		t.members = map[string]bool{}
	}
	if t.members[name] {
		return nil
	}
	t.members[name] = true
	ni, ok := t.nodeIdx[name]
	if !ok || nodeExclusion(t.nodes[ni], true) != 0 {
		return nil
	}
	t.ok[ni] = true
	t.refreshEligible()
	h := t.nodeHash[ni]
	var cs Changes
	reach := len(t.classes) > 0
	challenge := func(gi int32) {
		g := &t.groups[gi]
		w := mix(h ^ g.hash)
		if reach && !t.challengeTiers(g, ni) {
			return
		}
		if g.owner >= 0 && !beatsIdx(w, ni, g.weight, g.owner) && (!reach || t.reachAllows(g, g.owner)) {
			return
		}
		cs = append(cs, Change{Group: g.Key, From: t.ownerName(g.owner), To: name})
		g.owner, g.weight = ni, w
	}
	for gi := range t.groups {
		if g := &t.groups[gi]; !g.req.noEndpoints && !g.req.local {
			challenge(int32(gi))
		}
	}
	for _, gi := range t.localGroups[ni] {
		if !t.groups[gi].req.noEndpoints {
			challenge(gi)
		}
	}
	sortChanges(cs)
	return cs
}

// challengeTiers recomputes g's best tier with the joiner ni among the
// candidates and reports whether ni is of it. The joiner may be of a better
// tier than the owner (which is then no longer of the best: the joiner alone
// is), or of a worse.
func (t *Table) challengeTiers(g *tgroup, ni int32) bool {
	t.restrict(g)
	return t.reachAllows(g, ni)
}

// beatsIdx is beats with names compared through their sorted indices.
func beatsIdx(w uint64, i int32, bw uint64, bi int32) bool {
	return w > bw || (w == bw && i < bi)
}

// Owner returns the owner of group k, "" when it has none or is unknown.
func (t *Table) Owner(k GroupKey) string {
	gi, ok := t.groupIdx[k]
	if !ok {
		return ""
	}
	return t.ownerName(t.groups[gi].owner)
}

// Owned returns the groups node owns, sorted by key.
func (t *Table) Owned(node string) []GroupKey {
	ni, ok := t.nodeIdx[node]
	if !ok {
		return nil
	}
	var out []GroupKey
	for _, g := range t.groups {
		if g.owner == ni {
			out = append(out, g.Key)
		}
	}
	return out
}

// Group returns the group with key k.
func (t *Table) Group(k GroupKey) (Group, bool) {
	gi, ok := t.groupIdx[k]
	if !ok {
		return Group{}, false
	}
	return t.groups[gi].Group, true
}

// Groups returns every group, sorted by key.
func (t *Table) Groups() []Group {
	out := make([]Group, len(t.groups))
	for i, g := range t.groups {
		out[i] = g.Group
	}
	return out
}

// Explain returns the candidates of group k as Candidates would compute them
// from the table's current view, for telling users why nobody announces an
// address. It costs one pass over the nodes.
func (t *Table) Explain(k GroupKey) (GroupCandidates, bool) {
	gi, ok := t.groupIdx[k]
	if !ok {
		return GroupCandidates{}, false
	}
	g := &t.groups[gi]
	c := GroupCandidates{Group: g.Group, Excluded: map[Exclusion][]string{}, Owner: t.ownerName(g.owner)}
	for i, n := range t.nodes {
		e := nodeExclusion(n, t.members[n.Name])
		if e == 0 {
			e = g.req.exclusion(n.Name)
		}
		if e == 0 && !t.reachAllows(g, int32(i)) {
			e = NoInterface
		}
		if e != 0 {
			c.Excluded[e] = append(c.Excluded[e], n.Name)
			continue
		}
		c.Eligible = append(c.Eligible, n.Name)
	}
	return c, true
}

func (t *Table) ownerName(i int32) string {
	if i < 0 {
		return ""
	}
	return t.nodes[i].Name
}

// ownerMap returns every group's owner name by key.
func (t *Table) ownerMap() map[GroupKey]string {
	m := make(map[GroupKey]string, len(t.groups))
	for _, g := range t.groups {
		m[g.Key] = t.ownerName(g.owner)
	}
	return m
}

func sortChanges(cs Changes) {
	slices.SortFunc(cs, func(a, b Change) int { return a.Group.Addr().Compare(b.Group.Addr()) })
}

// Then returns the changes of cs followed by next as one update: a group's
// From is its first, its To its last, and a group that ends where it began
// is not listed.
func (cs Changes) Then(next Changes) Changes {
	if len(next) == 0 {
		return cs
	}
	if len(cs) == 0 {
		return next
	}
	byGroup := make(map[GroupKey]Change, len(cs)+len(next))
	for _, c := range cs {
		byGroup[c.Group] = c
	}
	for _, c := range next {
		if first, ok := byGroup[c.Group]; ok {
			c.From = first.From
		}
		byGroup[c.Group] = c
	}
	out := make(Changes, 0, len(byGroup))
	for _, c := range byGroup {
		if c.From != c.To {
			out = append(out, c)
		}
	}
	sortChanges(out)
	return out
}
