package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations on index.json's manifest descriptor: the OCI tag and the full
// name containerd (and so docker load) gives the image.
const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerName = "io.containerd.image.name"
)

// ociLayout is the content of the image layout's oci-layout file.
const ociLayout = `{"imageLayoutVersion":"1.0.0"}`

// image is everything that goes into one image.
type image struct {
	// Binary is the static executable, placed at Spec.Entrypoint[0].
	Binary []byte
	// Spec is the user, entrypoint and labels, from the Dockerfile.
	Spec runtimeSpec
	// Tags name the image, e.g. "barelb/barelb-ccm:latest".
	Tags []string
	// Created is the creation time and every file's modification time.
	Created time.Time
}

// nonrootUID is the user the distroless images call nonroot.
const nonrootUID = 65532

// passwd and group name root and nonroot, so a numeric USER resolves to a
// name and a home directory, as in the distroless static base.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// goArch maps an ELF machine to GOARCH, for the image's platform.
var goArch = map[elf.Machine]string{
	elf.EM_X86_64:  "amd64",
	elf.EM_AARCH64: "arm64",
	elf.EM_386:     "386",
	elf.EM_ARM:     "arm",
	elf.EM_PPC64:   "ppc64le",
	elf.EM_S390:    "s390x",
	elf.EM_RISCV:   "riscv64",
}

// errNotStatic means the binary needs a dynamic loader, which an empty base
// does not have.
var errNotStatic = errors.New("binary is dynamically linked (build it with CGO_ENABLED=0)")

// staticArch checks that bin is a statically linked Linux ELF executable and
// returns its GOARCH.
func staticArch(bin []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return "", fmt.Errorf("failed to read the binary as ELF: %w", err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("binary is an ELF %s, not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errNotStatic
		}
	}
	arch, ok := goArch[f.Machine]
	if !ok || (f.Machine == elf.EM_PPC64 && f.Data != elf.ELFDATA2LSB) {
		return "", fmt.Errorf("unsupported ELF machine %s", f.Machine)
	}
	return arch, nil
}

// layerFile is one entry of the layer.
type layerFile struct {
	name     string // without a leading slash; directories end in "/"
	mode     int64
	uid, gid int
	data     []byte
}

// layerFiles lists the layer's entries, parents before children: the binary
// owned by root and executable by everyone, passwd and group, a sticky /tmp
// and nonroot's home.
func layerFiles(bin []byte, binPath string) []layerFile {
	files := []layerFile{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: nonrootUID, gid: nonrootUID},
		{name: "tmp/", mode: 0o1777},
	}
	dir := strings.TrimPrefix(path.Dir(binPath), "/")
	var parents []string
	for d := dir; d != "" && d != "."; d = path.Dir(d) {
		parents = append([]string{d + "/"}, parents...)
	}
	for _, p := range parents {
		if !hasFile(files, p) {
			files = append(files, layerFile{name: p, mode: 0o755})
		}
	}
	return append(files, layerFile{name: strings.TrimPrefix(binPath, "/"), mode: 0o755, data: bin})
}

func hasFile(files []layerFile, name string) bool {
	for _, f := range files {
		if f.name == name {
			return true
		}
	}
	return false
}

// buildLayer returns the uncompressed layer tar.
func buildLayer(files []layerFile, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("failed to write layer entry %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("failed to write layer entry %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("failed to finish the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// writeImage writes img as an OCI image-layout tarball (with Docker's
// manifest.json beside it) to w. go-containerregistry assembles the image,
// its configuration, manifest and index; writeImage only archives them.
func writeImage(w io.Writer, img image) error {
	arch, err := staticArch(img.Binary)
	if err != nil {
		return err
	}
	if len(img.Spec.Entrypoint) == 0 {
		return fmt.Errorf("no entrypoint")
	}
	created := img.Created.UTC()
	layerTar, err := buildLayer(layerFiles(img.Binary, img.Spec.Entrypoint[0]), created)
	if err != nil {
		return err
	}
	one, err := ociImage(static.NewLayer(layerTar, types.OCIUncompressedLayer), arch, img.Spec, created)
	if err != nil {
		return err
	}
	idx, repoTags, err := ociIndex(one, arch, img.Tags)
	if err != nil {
		return err
	}
	docker, err := dockerManifest(one, repoTags)
	if err != nil {
		return err
	}
	return writeArchive(w, idx, docker, created)
}

// ociImage is the image of one layer on an empty base, run as spec says.
func ociImage(layer v1.Layer, arch string, spec runtimeSpec, created time.Time) (v1.Image, error) {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	base, err := mutate.ConfigFile(base, &v1.ConfigFile{
		Created:      v1.Time{Time: created},
		Architecture: arch,
		OS:           "linux",
		Config: v1.Config{
			User:       spec.User,
			Entrypoint: spec.Entrypoint,
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			WorkingDir: "/",
			Labels:     spec.Labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("failed to set the image configuration: %w", err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "hack/ociimage: " + spec.Entrypoint[0]},
	})
	if err != nil {
		return nil, fmt.Errorf("failed to add the layer: %w", err)
	}
	return img, nil
}

// ociIndex is the index.json of the layout: img once per tag, annotated with
// the tag and the name containerd gives it. It also returns the tags as
// Docker's manifest.json names them.
func ociIndex(img v1.Image, arch string, tags []string) (v1.ImageIndex, []string, error) {
	var adds []mutate.IndexAddendum
	var repoTags []string
	for _, t := range tags {
		name, tag, err := splitTag(t)
		if err != nil {
			return nil, nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{Architecture: arch, OS: "linux"},
			Annotations: map[string]string{annotationRefName: tag, annotationContainerName: canonicalName(name) + ":" + tag},
		}})
		repoTags = append(repoTags, name+":"+tag)
	}
	if len(adds) == 0 {
		return nil, nil, fmt.Errorf("no tag")
	}
	return mutate.AppendManifests(empty.Index, adds...), repoTags, nil
}

// dockerManifest is Docker's manifest.json for img under repoTags, pointing
// at the blobs of the OCI layout.
func dockerManifest(img v1.Image, repoTags []string) (tarball.Manifest, error) {
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("failed to digest the configuration: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("failed to list the layers: %w", err)
	}
	d := tarball.Descriptor{Config: blobPath(cfg), RepoTags: repoTags}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("failed to digest a layer: %w", err)
		}
		d.Layers = append(d.Layers, blobPath(h))
	}
	return tarball.Manifest{d}, nil
}

// blobPath is where a blob lives in an image layout.
func blobPath(h v1.Hash) string {
	return "blobs/" + h.Algorithm + "/" + h.Hex
}

// archiveEntry is one file or directory (a name ending in "/") of the tarball.
type archiveEntry struct {
	name string
	data []byte
}

// layoutEntries lists the image layout of idx: oci-layout, then each image's
// layers, configuration and manifest (each blob once), then index.json.
func layoutEntries(idx v1.ImageIndex) ([]archiveEntry, error) {
	entries := []archiveEntry{{"oci-layout", []byte(ociLayout)}, {"blobs/", nil}, {"blobs/sha256/", nil}}
	seen := map[v1.Hash]bool{}
	add := func(h v1.Hash, data []byte) {
		if !seen[h] {
			seen[h] = true
			entries = append(entries, archiveEntry{blobPath(h), data})
		}
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("failed to read the index: %w", err)
	}
	for _, desc := range im.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("failed to read image %s: %w", desc.Digest, err)
		}
		blobs, err := imageBlobs(img)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", desc.Digest, err)
		}
		for _, b := range blobs {
			add(b.digest, b.data)
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("failed to encode the index: %w", err)
	}
	return append(entries, archiveEntry{"index.json", raw}), nil
}

// blob is content with its digest.
type blob struct {
	digest v1.Hash
	data   []byte
}

// imageBlobs returns an image's layers, configuration and manifest.
func imageBlobs(img v1.Image) ([]blob, error) {
	var blobs []blob
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("failed to list the layers: %w", err)
	}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("failed to digest a layer: %w", err)
		}
		data, err := readLayer(l)
		if err != nil {
			return nil, fmt.Errorf("failed to read layer %s: %w", h, err)
		}
		blobs = append(blobs, blob{h, data})
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("failed to digest the configuration: %w", err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("failed to encode the configuration: %w", err)
	}
	manDigest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("failed to digest the manifest: %w", err)
	}
	man, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("failed to encode the manifest: %w", err)
	}
	return append(blobs, blob{cfgName, cfg}, blob{manDigest, man}), nil
}

// readLayer returns a layer's blob as the manifest describes it.
func readLayer(l v1.Layer) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// writeArchive writes the image layout of idx and Docker's manifest.json as
// one tarball, every entry stamped with mtime so the bytes depend only on
// the inputs.
func writeArchive(w io.Writer, idx v1.ImageIndex, docker tarball.Manifest, mtime time.Time) error {
	entries, err := layoutEntries(idx)
	if err != nil {
		return err
	}
	dockerJSON, err := json.Marshal(docker)
	if err != nil {
		return fmt.Errorf("failed to encode manifest.json: %w", err)
	}
	entries = append(entries, archiveEntry{"manifest.json", dockerJSON})
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if strings.HasSuffix(e.name, "/") {
			h.Mode, h.Typeflag = 0o755, tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("failed to write %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("failed to write %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("failed to finish the image: %w", err)
	}
	return nil
}

// splitTag splits "name:tag" (the tag after the last colon that follows the
// last slash, so a registry port is not a tag); a missing tag is "latest".
func splitTag(ref string) (name, tag string, err error) {
	name, tag = ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name, tag = ref[:i], ref[i+1:]
	}
	if name == "" || tag == "" || strings.ContainsAny(ref, " @") || name != strings.ToLower(name) {
		return "", "", fmt.Errorf("tag %q: want a lower-case name[:tag]", ref)
	}
	return name, tag, nil
}

// canonicalName adds Docker's default registry and library/ prefix, the way
// containerd names images ("barelb/x" is "docker.io/barelb/x").
func canonicalName(name string) string {
	first, rest, ok := strings.Cut(name, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return name
	}
	if !ok {
		return "docker.io/library/" + name
	}
	return "docker.io/" + first + "/" + rest
}

// parseUser splits a numeric USER "uid[:gid]"; a missing gid equals uid.
func parseUser(u string) (uid, gid int, err error) {
	us, gs, ok := strings.Cut(u, ":")
	if uid, err = strconv.Atoi(us); err != nil || uid < 0 {
		return 0, 0, fmt.Errorf("USER %q: want numeric uid[:gid]", u)
	}
	gid = uid
	if ok {
		if gid, err = strconv.Atoi(gs); err != nil || gid < 0 {
			return 0, 0, fmt.Errorf("USER %q: want numeric uid[:gid]", u)
		}
	}
	return uid, gid, nil
}
