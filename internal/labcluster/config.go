package labcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LabPools are the lab's layer2 pools, from the lab subnet: host indexes
// 100-199 are never given to lab hosts, and the client reaches them on-link.
const LabPools = `- name: lab
  protocol: layer2
  addresses:
  - 192.0.2.100-192.0.2.149
  - 2001:db8::100-2001:db8::1ff
- name: lab-manual
  protocol: layer2
  auto-assign: false
  addresses:
  - 192.0.2.150-192.0.2.199
`

// LabConfig returns the configuration the lab runs with: the seed's example
// (manifests/example-config.yaml, whose BGP pools are assigned but never
// announced) with LabPools put first among its address pools.
func LabConfig(manifestDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(manifestDir, "example-config.yaml"))
	if err != nil {
		return "", fmt.Errorf("failed to read the example config: %w", err)
	}
	text := string(b)
	const block = "config: |"
	i := strings.Index(text, block)
	if i < 0 {
		return "", fmt.Errorf("example-config.yaml has no %q block", block)
	}
	var lines []string
	for _, l := range strings.Split(text[i+len(block):], "\n")[1:] {
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	seed := strings.Join(lines, "\n")
	const anchor = "address-pools:\n"
	j := strings.Index(seed, anchor)
	if j < 0 {
		return "", fmt.Errorf("example-config.yaml has no address-pools")
	}
	return seed[:j+len(anchor)] + LabPools + seed[j+len(anchor):], nil
}

// ManifestDir is where the cluster reads manifests from.
func (c *Cluster) ManifestDir() string { return c.o.ManifestDir }
