package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// fileSum returns the hex sha256 of a file.
func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestRunReproducible runs the command twice on the same inputs, as `make
// images` does, and checks that the tarballs are byte-identical and that
// go-containerregistry reads both of their forms (Docker's manifest.json and
// the OCI layout) back to a valid image run as the Dockerfile says.
func TestRunReproducible(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "barelb-nodehelper")
	if err := os.WriteFile(bin, buildProbe(t), 0o755); err != nil {
		t.Fatal(err)
	}
	dockerfile := filepath.Join("..", "..", "Dockerfile.nodehelper")
	var sums []string
	for _, name := range []string{"first.tar", "second.tar"} {
		out := filepath.Join(dir, "images", name)
		args := []string{"-dockerfile", dockerfile, "-binary", bin, "-created", "2026-01-02T03:04:05Z",
			"-tag", "barelb/barelb-nodehelper:latest,barelb/barelb-nodehelper:v0.1.0", "-o", out}
		if err := run(args); err != nil {
			t.Fatalf("run(%q): %v", args, err)
		}
		sums = append(sums, fileSum(t, out))
	}
	if sums[0] != sums[1] {
		t.Errorf("two builds of the same inputs differ: sha256 %s and %s", sums[0], sums[1])
	}

	out := filepath.Join(dir, "images", "first.tar")
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatalf("failed to read manifest.json: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("the image of manifest.json is invalid: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	spec := readDockerfile(t, "Dockerfile.nodehelper")
	got := runtimeSpec{User: cfg.Config.User, Entrypoint: cfg.Config.Entrypoint, Labels: cfg.Config.Labels}
	if diff := cmp.Diff(spec, got); diff != "" {
		t.Errorf("image configuration against Dockerfile.nodehelper (-want +got):\n%s", diff)
	}
	if spec.Labels["org.opencontainers.image.title"] != "barelb-nodehelper" {
		t.Errorf("labels from Dockerfile.nodehelper: %v", spec.Labels)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := readTar(t, b)
	root := filepath.Join(dir, "layout")
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(root)
	if err != nil {
		t.Fatalf("failed to read the OCI layout: %v", err)
	}
	// Fast: the layout reader takes every OCI layer for gzip, and this one is
	// uncompressed; its bytes were validated through manifest.json above.
	if err := validate.Index(idx, validate.Fast); err != nil {
		t.Errorf("the OCI layout's index is invalid: %v", err)
	}
}
