package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// aliasBudget bounds how many YAML aliases one parse follows, so that
// self-referencing anchors end quickly.
const aliasBudget = 10000

// visitBudget bounds how many list elements and mapping entries one parse
// visits, counting those reached through aliases each time, so that "billion
// laughs" documents cannot make the work much larger than the input. Real
// configs have tens to thousands of entries.
const visitBudget = 1 << 18

// parser walks a YAML node tree, collecting errors and warnings.
type parser struct {
	errs  ErrorList
	warns []Warning
	// lineOffset is added to node lines; -1 means lines are unknown.
	lineOffset int
	aliases    int
	visits     int
}

// visit charges n visited entries; it reports false, and an error the first
// time, once the budget is spent.
func (p *parser) visit(n *yaml.Node, entries int) bool {
	if p.visits > visitBudget {
		return false
	}
	p.visits += entries
	if p.visits > visitBudget {
		p.error("", n, "", "document too large once YAML aliases are expanded")
		return false
	}
	return true
}

func (p *parser) line(n *yaml.Node) int {
	if n == nil || p.lineOffset < 0 || n.Line == 0 {
		return 0
	}
	return n.Line + p.lineOffset
}

// errorf records an error about the value node n at path.
func (p *parser) error(path string, n *yaml.Node, value, msg string) {
	p.errs = append(p.errs, &FieldError{Path: path, Line: p.line(n), Value: value, Message: msg})
}

func (p *parser) warn(path, msg string) {
	p.warns = append(p.warns, Warning{Path: path, Message: msg})
}

// resolve follows aliases. It returns nil for a nil node and, once the alias
// budget is spent, for every alias.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		p.aliases++
		if p.aliases == aliasBudget {
			p.error("", n, "", "too many YAML aliases")
		}
		if p.aliases >= aliasBudget {
			return nil
		}
		n = n.Alias
	}
	return n
}

// isNull reports whether n is absent or an explicit null, which the format treats alike.
func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// mapping returns the entries of the mapping n by key, with merge keys (<<)
// applied. It reports a non-mapping, duplicate keys and keys not in known.
// A null node is an empty mapping. ok is false when n is not a mapping.
func (p *parser) mapping(path string, n *yaml.Node, known ...string) (fields map[string]*yaml.Node, ok bool) {
	fields = map[string]*yaml.Node{}
	n = p.resolve(n)
	if isNull(n) {
		return fields, true
	}
	if n.Kind != yaml.MappingNode {
		p.error(path, n, "", "must be a mapping")
		return fields, false
	}
	p.collect(path, n, fields, known, true)
	return fields, true
}

// collect adds the entries of mapping n not yet in fields. explicit is false
// for merged mappings, whose keys yield to those already present.
func (p *parser) collect(path string, n *yaml.Node, fields map[string]*yaml.Node, known []string, explicit bool) {
	if !p.visit(n, len(n.Content)/2) {
		return
	}
	var merges []*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			continue
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.error(path, k, "", "keys must be strings")
			continue
		}
		if seen[k.Value] {
			p.error(child(path, k.Value), k, "", "duplicate key")
			continue
		}
		seen[k.Value] = true
		if known != nil && !slices.Contains(known, k.Value) {
			p.error(child(path, k.Value), k, "", "unknown field")
			continue
		}
		if _, ok := fields[k.Value]; ok && !explicit {
			continue
		}
		fields[k.Value] = v
	}
	for _, m := range merges {
		m = p.resolve(m)
		switch {
		case m == nil:
		case m.Kind == yaml.MappingNode:
			p.collect(path, m, fields, known, false)
		case m.Kind == yaml.SequenceNode:
			for _, e := range m.Content {
				if e = p.resolve(e); e != nil && e.Kind == yaml.MappingNode {
					p.collect(path, e, fields, known, false)
				} else if e != nil {
					p.error(path, e, "", "merge key (<<) must refer to mappings")
				}
			}
		default:
			p.error(path, m, "", "merge key (<<) must refer to a mapping")
		}
	}
}

// inOrder returns the keys of fields in document order.
func (p *parser) inOrder(fields map[string]*yaml.Node) []string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	pos := func(k string) (int, int) {
		if n := fields[k]; n != nil {
			return n.Line, n.Column
		}
		return 0, 0
	}
	slices.SortFunc(keys, func(a, b string) int {
		la, ca := pos(a)
		lb, cb := pos(b)
		return cmp.Or(cmp.Compare(la, lb), cmp.Compare(ca, cb), strings.Compare(a, b))
	})
	return keys
}

// sequence returns the elements of the sequence n, aliases resolved. A null
// node is an empty sequence.
func (p *parser) sequence(path string, n *yaml.Node) []*yaml.Node {
	n = p.resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.error(path, n, "", "must be a list")
		return nil
	}
	if !p.visit(n, len(n.Content)) {
		return nil
	}
	out := make([]*yaml.Node, 0, len(n.Content))
	for _, e := range n.Content {
		out = append(out, p.resolve(e))
	}
	return out
}

// str returns the text of the scalar n; any scalar is accepted as its text,
// as MetalLB's YAML library did. set is false for an absent or null value.
func (p *parser) str(path string, n *yaml.Node) (s string, set, ok bool) {
	n = p.resolve(n)
	if isNull(n) {
		return "", false, true
	}
	if n.Kind != yaml.ScalarNode {
		p.error(path, n, "", "must be a string")
		return "", false, false
	}
	return n.Value, true, true
}

// boolean returns the boolean n, accepting YAML 1.1 spellings (yes, on, ...).
func (p *parser) boolean(path string, n *yaml.Node) (b, ok bool) {
	n = p.resolve(n)
	if isNull(n) {
		return false, true
	}
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		p.error(path, n, scalarValue(n), "must be true or false")
		return false, false
	}
	return b, true
}

// integer returns the integer n checked against [lo, hi]. set is false for an
// absent or null value; ok is false after an error.
func (p *parser) integer(path string, n *yaml.Node, lo, hi int64) (v int64, set, ok bool) {
	n = p.resolve(n)
	if isNull(n) {
		return 0, false, true
	}
	if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil || v < lo || v > hi {
		p.error(path, n, scalarValue(n), "must be an integer in "+strconv.FormatInt(lo, 10)+"-"+strconv.FormatInt(hi, 10))
		return 0, true, false
	}
	return v, true, true
}

// scalarValue is the text of n for error messages, empty for a collection.
func scalarValue(n *yaml.Node) string {
	if n != nil && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return ""
}
