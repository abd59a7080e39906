package config

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Parse parses and validates a configuration given as raw config YAML, as a
// ConfigMap manifest whose data.config holds it, or as a multi-document YAML
// file containing exactly one such ConfigMap. Lines in errors refer to data.
//
// On success the warnings name valid settings barelb ignores (BGP). On
// failure the error is an ErrorList holding every problem found.
func Parse(data []byte) (*Config, []Warning, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, nil, err
	}
	var (
		configMaps []*yaml.Node // data.config values
		cmDocs     []string
		others     []*yaml.Node // documents that are not Kubernetes objects
		objects    int
	)
	for i, d := range docs {
		p := parser{}
		top, ok := p.mapping("", d)
		if _, isObject := top["kind"]; !ok || !isObject {
			others = append(others, d)
			continue
		}
		objects++
		kind, _, _ := p.str("kind", top["kind"])
		if kind != "ConfigMap" {
			continue
		}
		cmData, _ := p.mapping("data", top["data"])
		if v, ok := cmData["config"]; ok {
			configMaps = append(configMaps, v)
			cmDocs = append(cmDocs, strconv.Itoa(i+1))
		}
	}
	switch {
	case len(configMaps) == 1:
		return parseConfigMapValue(configMaps[0])
	case len(configMaps) > 1:
		return nil, nil, ErrorList{{Message: "found " + strconv.Itoa(len(configMaps)) + " ConfigMaps with data.config (documents " + strings.Join(cmDocs, ", ") + "), want one"}}
	case objects > 0:
		return nil, nil, ErrorList{{Message: "found no ConfigMap with data.config"}}
	case len(others) > 1:
		return nil, nil, ErrorList{{Message: "found " + strconv.Itoa(len(others)) + " YAML documents and no ConfigMap with data.config, want one config"}}
	}
	p := &parser{}
	var root *yaml.Node
	if len(others) == 1 {
		root = others[0]
	}
	return p.config(root)
}

// ParseConfigMapData parses and validates the configuration held under key in
// a ConfigMap's data, as the controllers read it. A missing key is an error.
// Lines in errors refer to the value of key.
func ParseConfigMapData(data map[string]string, key string) (*Config, []Warning, error) {
	text, ok := data[key]
	if !ok {
		return nil, nil, ErrorList{{Path: "data", Message: "missing key " + strconv.Quote(key)}}
	}
	return parseText(text, 0)
}

// parseConfigMapValue parses the data.config value node of a manifest.
// Lines map exactly onto the manifest for a literal block scalar (config: |).
func parseConfigMapValue(n *yaml.Node) (*Config, []Warning, error) {
	p := &parser{}
	if n = p.resolve(n); n == nil || n.Kind != yaml.ScalarNode {
		p.error("data.config", n, "", "must be a string")
		return nil, nil, p.errs
	}
	offset := -1
	if n.Style&yaml.LiteralStyle != 0 {
		offset = n.Line
	}
	return parseText(n.Value, offset)
}

// parseText parses config YAML whose line 1 is line offset+1 of the input
// (offset -1: unknown). Documents after the first are ignored, as MetalLB did.
func parseText(text string, offset int) (*Config, []Warning, error) {
	docs, err := documents([]byte(text))
	if err != nil {
		var l ErrorList
		if errors.As(err, &l) {
			for _, e := range l {
				if e.Line > 0 && offset >= 0 {
					e.Line += offset
				} else {
					e.Line = 0
				}
			}
		}
		return nil, nil, err
	}
	p := &parser{lineOffset: offset}
	var root *yaml.Node
	if len(docs) > 0 {
		root = docs[0]
	}
	if len(docs) > 1 {
		p.warn("", "only the first YAML document of the config is used, "+strconv.Itoa(len(docs)-1)+" more ignored")
	}
	return p.config(root)
}

// documents splits data into the root nodes of its non-empty YAML documents.
func documents(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, ErrorList{syntaxError(err)}
		}
		if len(doc.Content) == 1 && !isNull(doc.Content[0]) {
			docs = append(docs, doc.Content[0])
		}
	}
}

// syntaxError turns a YAML syntax error ("yaml: line 3: did not find ...")
// into a FieldError carrying its line.
func syntaxError(err error) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, after
			}
		}
	}
	return &FieldError{Line: line, Message: "invalid YAML: " + msg}
}

// config validates the config mapping root (nil: empty config).
func (p *parser) config(root *yaml.Node) (*Config, []Warning, error) {
	top, _ := p.mapping("", root, "peers", "bgp-communities", "address-pools", "bfd-profiles")
	cfg := &Config{}
	cfg.BGPCommunities = p.communities("bgp-communities", top["bgp-communities"])
	cfg.BFDProfiles = p.bfdProfiles("bfd-profiles", top["bfd-profiles"])
	cfg.Peers = p.peers("peers", top["peers"], cfg.BFDProfiles)
	cfg.Pools = p.pools("address-pools", top["address-pools"], cfg.BGPCommunities)
	if len(p.errs) > 0 {
		return nil, p.warns, p.errs
	}
	cfg.index = newPoolIndex(cfg.Pools)
	return cfg, p.warns, nil
}
