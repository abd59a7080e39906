package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// runtimeSpec is what ociimage takes from the final stage of a Dockerfile.
type runtimeSpec struct {
	// User is the USER instruction's argument, e.g. "65532:65532".
	User string
	// Entrypoint is the exec form of ENTRYPOINT; its first element is where
	// the binary goes in the image.
	Entrypoint []string
	// Labels are the LABEL key=value pairs.
	Labels map[string]string
}

// maxDockerfile bounds the bytes parseDockerfile reads.
const maxDockerfile = 1 << 20

// parseDockerfile reads the USER, ENTRYPOINT (exec form only) and LABEL
// instructions of the last stage (after the last FROM) of a Dockerfile. It
// understands comments, line continuations and key="quoted value" labels;
// any other instruction is ignored, since ociimage only copies a binary.
func parseDockerfile(r io.Reader) (runtimeSpec, error) {
	var spec runtimeSpec
	lines, err := logicalLines(io.LimitReader(r, maxDockerfile))
	if err != nil {
		return spec, err
	}
	stage := -1
	for i, l := range lines {
		if kw, _ := instruction(l); kw == "FROM" {
			stage = i
		}
	}
	if stage < 0 {
		return spec, fmt.Errorf("no FROM instruction")
	}
	for _, l := range lines[stage+1:] {
		kw, arg := instruction(l)
		switch kw {
		case "USER":
			// Numeric, so a kubelet can check runAsNonRoot against it.
			if _, _, err := parseUser(arg); err != nil {
				return spec, err
			}
			spec.User = arg
		case "ENTRYPOINT":
			var ep []string
			if err := json.Unmarshal([]byte(arg), &ep); err != nil || len(ep) == 0 || !strings.HasPrefix(ep[0], "/") {
				return spec, fmt.Errorf("ENTRYPOINT %s: want the exec form with an absolute path, e.g. [\"/barelb-ccm\"]", arg)
			}
			spec.Entrypoint = ep
		case "LABEL":
			if spec.Labels == nil {
				spec.Labels = map[string]string{}
			}
			if err := parseLabels(arg, spec.Labels); err != nil {
				return spec, fmt.Errorf("LABEL %s: %w", arg, err)
			}
		}
	}
	if spec.User == "" || spec.Entrypoint == nil {
		return spec, fmt.Errorf("the last stage needs a USER and an exec-form ENTRYPOINT")
	}
	return spec, nil
}

// logicalLines joins continuation lines and drops comments and blank lines.
func logicalLines(r io.Reader) ([]string, error) {
	var out []string
	var cur strings.Builder
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		if l := strings.TrimSpace(cur.String()); l != "" {
			out = append(out, l)
		}
		cur.Reset()
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("failed to read Dockerfile: %w", err)
	}
	if l := strings.TrimSpace(cur.String()); l != "" {
		out = append(out, l)
	}
	return out, nil
}

// instruction splits a logical line into its keyword, upper-cased, and its
// argument.
func instruction(line string) (keyword, arg string) {
	end := strings.IndexAny(line, " \t")
	if end < 0 {
		end = len(line)
	}
	return strings.ToUpper(line[:end]), strings.TrimSpace(line[end:])
}

// parseLabels adds key=value pairs (values optionally double-quoted, with
// \" and \\ escapes) to labels.
func parseLabels(s string, labels map[string]string) error {
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return nil
		}
		key, rest, ok := strings.Cut(s, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t\"") {
			return fmt.Errorf("want key=value pairs")
		}
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			if i >= len(rest) {
				return fmt.Errorf("unterminated quote in the value of %s", key)
			}
			val, s = b.String(), rest[i+1:]
		} else {
			end := strings.IndexAny(rest, " \t")
			if end < 0 {
				end = len(rest)
			}
			val, s = rest[:end], rest[end:]
		}
		labels[key] = val
	}
}
