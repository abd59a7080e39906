package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// probeSource is a static program that reports who it runs as, for checking
// an image's root file system.
const probeSource = `package main

import (
	"fmt"
	"os"
	"os/user"
)

func main() {
	u, err := user.Current()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	f, err := os.CreateTemp("", "probe")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	f.Close()
	fmt.Printf("uid=%s gid=%s user=%s home=%s tmp=ok\n", u.Uid, u.Gid, u.Username, u.HomeDir)
}
`

// buildProbe compiles probeSource as a static Linux binary.
func buildProbe(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module probe\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(probeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", "probe", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("failed to build the probe: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// readDockerfile parses one of the repository's Dockerfiles.
func readDockerfile(t *testing.T, name string) runtimeSpec {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spec, err := parseDockerfile(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return spec
}

// readTar returns the regular files of a tar by name, and every entry's header
// in order.
func readTar(t *testing.T, data []byte) (map[string][]byte, []*tar.Header) {
	t.Helper()
	files := map[string][]byte{}
	var headers []*tar.Header
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, headers
		}
		if err != nil {
			t.Fatalf("failed to read tar: %v", err)
		}
		headers = append(headers, h)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = b
		}
	}
}

// resolve returns the blob a descriptor points at, after checking its size
// and digest.
func resolve(t *testing.T, files map[string][]byte, d v1.Descriptor) []byte {
	t.Helper()
	if d.Digest.Algorithm != "sha256" {
		t.Fatalf("digest %q is not sha256", d.Digest)
	}
	hexSum := d.Digest.Hex
	b, ok := files["blobs/sha256/"+hexSum]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != hexSum {
		t.Fatalf("blob %s has digest sha256:%s", d.Digest, got)
	}
	if int64(len(b)) != d.Size {
		t.Fatalf("blob %s: size %d, descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("failed to decode %T: %v", v, err)
	}
}

// layerEntry is what the test checks of each layer entry.
type layerEntry struct {
	Name     string
	Type     byte
	Mode     int64
	UID, GID int
}

func TestWriteImage(t *testing.T) {
	t.Parallel()
	bin := buildProbe(t)
	spec := readDockerfile(t, "Dockerfile.ccm")
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	img := image{Binary: bin, Spec: spec, Tags: []string{"barelb/barelb-ccm:latest", "barelb/barelb-ccm:v0.1.0"}, Created: created}
	var out bytes.Buffer
	if err := writeImage(&out, img); err != nil {
		t.Fatal(err)
	}
	files, _ := readTar(t, out.Bytes())

	if diff := cmp.Diff(`{"imageLayoutVersion":"1.0.0"}`, string(files["oci-layout"])); diff != "" {
		t.Errorf("oci-layout (-want +got):\n%s", diff)
	}
	var idx v1.IndexManifest
	decode(t, files["index.json"], &idx)
	if idx.SchemaVersion != 2 || idx.MediaType != types.OCIImageIndex || len(idx.Manifests) != 2 {
		t.Fatalf("index.json: %+v", idx)
	}
	var refs []string
	for _, d := range idx.Manifests {
		refs = append(refs, d.Annotations[annotationContainerName], d.Annotations[annotationRefName])
	}
	if diff := cmp.Diff([]string{"docker.io/barelb/barelb-ccm:latest", "latest", "docker.io/barelb/barelb-ccm:v0.1.0", "v0.1.0"}, refs); diff != "" {
		t.Errorf("index.json references (-want +got):\n%s", diff)
	}
	var man v1.Manifest
	decode(t, resolve(t, files, idx.Manifests[0]), &man)
	if man.MediaType != types.OCIManifestSchema1 || man.Config.MediaType != types.OCIConfigJSON || len(man.Layers) != 1 || man.Layers[0].MediaType != types.OCIUncompressedLayer {
		t.Fatalf("manifest: %+v", man)
	}
	var cfg v1.ConfigFile
	decode(t, resolve(t, files, man.Config), &cfg)
	layer := resolve(t, files, man.Layers[0])

	wantCfg := v1.ConfigFile{
		Created:      v1.Time{Time: created},
		Architecture: "amd64",
		OS:           "linux",
		Config: v1.Config{
			User:       "65532:65532",
			Entrypoint: []string{"/barelb-ccm"},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			WorkingDir: "/",
			Labels:     spec.Labels,
		},
		RootFS:  v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{man.Layers[0].Digest}},
		History: []v1.History{{Created: v1.Time{Time: created}, CreatedBy: "hack/ociimage: /barelb-ccm"}},
	}
	if diff := cmp.Diff(wantCfg, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if spec.Labels["org.opencontainers.image.title"] != "barelb-ccm" {
		t.Errorf("labels from Dockerfile.ccm: %v", spec.Labels)
	}

	layerFiles, headers := readTar(t, layer)
	var entries []layerEntry
	for _, h := range headers {
		entries = append(entries, layerEntry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid})
		if !h.ModTime.Equal(created) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, created)
		}
	}
	wantEntries := []layerEntry{
		{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "etc/group", Type: tar.TypeReg, Mode: 0o644},
		{Name: "etc/passwd", Type: tar.TypeReg, Mode: 0o644},
		{Name: "home/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "home/nonroot/", Type: tar.TypeDir, Mode: 0o700, UID: 65532, GID: 65532},
		{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "barelb-ccm", Type: tar.TypeReg, Mode: 0o755},
	}
	if diff := cmp.Diff(wantEntries, entries); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
	if !bytes.Equal(layerFiles["barelb-ccm"], bin) {
		t.Errorf("the layer's /barelb-ccm differs from the binary")
	}
	if !strings.Contains(string(layerFiles["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("etc/passwd lacks nonroot:\n%s", layerFiles["etc/passwd"])
	}

	var docker tarball.Manifest
	decode(t, files["manifest.json"], &docker)
	wantDocker := tarball.Manifest{{
		Config:   "blobs/sha256/" + man.Config.Digest.Hex,
		RepoTags: []string{"barelb/barelb-ccm:latest", "barelb/barelb-ccm:v0.1.0"},
		Layers:   []string{"blobs/sha256/" + man.Layers[0].Digest.Hex},
	}}
	if diff := cmp.Diff(wantDocker, docker); diff != "" {
		t.Errorf("manifest.json (-want +got):\n%s", diff)
	}

	var again bytes.Buffer
	if err := writeImage(&again, img); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), again.Bytes()) {
		t.Errorf("two writes of the same image differ: not reproducible")
	}
}

// TestImageRuns unpacks each image's layer and runs its entrypoint chrooted
// into it as the image's USER: the binary starts on the empty base, the user
// resolves through etc/passwd, and /tmp is writable.
func TestImageRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chroot and change user")
	}
	t.Parallel()
	bin := buildProbe(t)
	tests := []struct {
		name       string
		dockerfile string
		want       string
	}{
		{name: "ccm", dockerfile: "Dockerfile.ccm", want: "uid=65532 gid=65532 user=nonroot home=/home/nonroot tmp=ok\n"},
		{name: "nodehelper", dockerfile: "Dockerfile.nodehelper", want: "uid=0 gid=0 user=root home=/root tmp=ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := readDockerfile(t, tt.dockerfile)
			var out bytes.Buffer
			if err := writeImage(&out, image{Binary: bin, Spec: spec, Tags: []string{"test"}, Created: time.Unix(0, 0)}); err != nil {
				t.Fatal(err)
			}
			var cfg v1.ConfigFile
			var layer []byte
			files, _ := readTar(t, out.Bytes())
			var idx v1.IndexManifest
			decode(t, files["index.json"], &idx)
			var man v1.Manifest
			decode(t, resolve(t, files, idx.Manifests[0]), &man)
			decode(t, resolve(t, files, man.Config), &cfg)
			layer = resolve(t, files, man.Layers[0])

			root := t.TempDir()
			unpack(t, layer, root)
			uid, gid, err := parseUser(cfg.Config.User)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(cfg.Config.Entrypoint[0], cfg.Config.Entrypoint[1:]...)
			cmd.Dir = "/"
			cmd.Env = []string{"HOME=/"}
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Chroot:     root,
				Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
			}
			got, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("entrypoint failed: %v\n%s", err, got)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("probe output (-want +got):\n%s", diff)
			}
		})
	}
}

// unpack extracts a layer into root with its modes and owners.
func unpack(t *testing.T, layer []byte, root string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, 0o600)
			}
		default:
			t.Fatalf("unexpected entry type %c for %s", h.Typeflag, h.Name)
		}
		if err == nil {
			err = os.Chown(p, h.Uid, h.Gid)
		}
		if err == nil {
			// Chmod after Chown: chown clears set-id bits, and a plain Chmod
			// takes no sticky bit, so map it through os.ModeSticky.
			mode := os.FileMode(h.Mode & 0o777)
			if h.Mode&0o1000 != 0 {
				mode |= os.ModeSticky
			}
			err = os.Chmod(p, mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestStaticArch(t *testing.T) {
	t.Parallel()
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Skip("no /bin/sh to try a dynamic binary with")
	}
	if _, err := staticArch(sh); !errors.Is(err, errNotStatic) {
		t.Errorf("staticArch(/bin/sh) = %v, want errNotStatic", err)
	}
	if _, err := staticArch([]byte("#!/bin/sh\n")); err == nil {
		t.Errorf("staticArch(a script) succeeded")
	}
}

func TestSplitTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		ref       string
		wantName  string
		wantTag   string
		wantError bool
	}{
		{name: "tagged", ref: "barelb/barelb-ccm:v1", wantName: "barelb/barelb-ccm", wantTag: "v1"},
		{name: "untagged", ref: "barelb/barelb-ccm", wantName: "barelb/barelb-ccm", wantTag: "latest"},
		{name: "registry port", ref: "localhost:5000/barelb-ccm", wantName: "localhost:5000/barelb-ccm", wantTag: "latest"},
		{name: "registry port and tag", ref: "localhost:5000/barelb-ccm:dev", wantName: "localhost:5000/barelb-ccm", wantTag: "dev"},
		{name: "upper case", ref: "Barelb/ccm", wantError: true},
		{name: "digest", ref: "barelb/ccm@sha256:00", wantError: true},
		{name: "empty tag", ref: "barelb/ccm:", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, tag, err := splitTag(tt.ref)
			if (err != nil) != tt.wantError {
				t.Fatalf("splitTag(%q) error = %v, want error %v", tt.ref, err, tt.wantError)
			}
			if diff := cmp.Diff([]string{tt.wantName, tt.wantTag}, []string{name, tag}); !tt.wantError && diff != "" {
				t.Errorf("splitTag(%q) (-want +got):\n%s", tt.ref, diff)
			}
		})
	}
}

func TestCanonicalName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{name: "user repository", in: "barelb/barelb-ccm", want: "docker.io/barelb/barelb-ccm"},
		{name: "library", in: "busybox", want: "docker.io/library/busybox"},
		{name: "registry", in: "ghcr.io/barelb/ccm", want: "ghcr.io/barelb/ccm"},
		{name: "localhost", in: "localhost/ccm", want: "localhost/ccm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, canonicalName(tt.in)); diff != "" {
				t.Errorf("canonicalName(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
