package allocator

// run is a maximal run of used addresses of one range, lo..hi inclusive,
// and a node of the treap that orders the runs of a range by lo.
// "Maximal" counts addresses a range never hands out (see span.next) as
// part of a run, so the address after the first run is always free.
type run struct {
	lo, hi      u128
	left, right *run
	prio        uint64
}

// runSet is an ordered set of disjoint runs: a treap keyed by lo with
// pseudo-random priorities, so every operation is O(log n) expected in the
// number of runs.
type runSet struct {
	root *run
	seed uint64
	n    int
}

func (s *runSet) newRun(lo, hi u128) *run {
	// splitmix64: deterministic priorities, no global state.
	s.seed += 0x9e3779b97f4a7c15
	z := s.seed
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return &run{lo: lo, hi: hi, prio: z ^ (z >> 31)}
}

// min returns the first run, or nil.
func (s *runSet) min() *run {
	t := s.root
	if t == nil {
		return nil
	}
	for t.left != nil {
		t = t.left
	}
	return t
}

// floor returns the run with the largest lo <= a, or nil.
func (s *runSet) floor(a u128) *run {
	var best *run
	for t := s.root; t != nil; {
		if a.less(t.lo) {
			t = t.left
		} else {
			best, t = t, t.right
		}
	}
	return best
}

// ceil returns the run with the smallest lo > a, or nil.
func (s *runSet) ceil(a u128) *run {
	var best *run
	for t := s.root; t != nil; {
		if a.less(t.lo) {
			best, t = t, t.left
		} else {
			t = t.right
		}
	}
	return best
}

func (s *runSet) insert(n *run) {
	s.root = insertRun(s.root, n)
	s.n++
}

func (s *runSet) delete(lo u128) {
	s.root = deleteRun(s.root, lo)
	s.n--
}

func insertRun(t, n *run) *run {
	if t == nil {
		return n
	}
	if n.prio > t.prio {
		n.left, n.right = splitRuns(t, n.lo)
		return n
	}
	if n.lo.less(t.lo) {
		t.left = insertRun(t.left, n)
	} else {
		t.right = insertRun(t.right, n)
	}
	return t
}

func deleteRun(t *run, lo u128) *run {
	if t == nil {
		return nil
	}
	switch c := lo.cmp(t.lo); {
	case c < 0:
		t.left = deleteRun(t.left, lo)
	case c > 0:
		t.right = deleteRun(t.right, lo)
	default:
		return mergeRuns(t.left, t.right)
	}
	return t
}

// splitRuns splits t into the runs with lo < k and those with lo >= k.
func splitRuns(t *run, k u128) (l, r *run) {
	if t == nil {
		return nil, nil
	}
	if t.lo.less(k) {
		t.right, r = splitRuns(t.right, k)
		return t, r
	}
	l, t.left = splitRuns(t.left, k)
	return l, t
}

// mergeRuns joins l and r, every lo in l being below every lo in r.
func mergeRuns(l, r *run) *run {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.prio > r.prio:
		l.right = mergeRuns(l.right, r)
		return l
	default:
		r.left = mergeRuns(l, r.left)
		return r
	}
}

// each calls f for every run in order until f returns false.
func (s *runSet) each(f func(*run) bool) {
	var walk func(*run) bool
	walk = func(t *run) bool {
		if t == nil {
			return true
		}
		return walk(t.left) && f(t) && walk(t.right)
	}
	walk(s.root)
}
