package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
)

// Media types of the OCI image specification (image-spec v1.1).
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// Annotations on index.json's manifest descriptor: the OCI tag and the full
// name containerd (and so docker load) gives the image.
const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerName = "io.containerd.image.name"
)

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

// descriptor is an OCI content descriptor.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

// platform is an OCI platform.
type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// index is an OCI image index (index.json).
type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// manifest is an OCI image manifest.
type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// config is an OCI image configuration.
type config struct {
	Created      string        `json:"created"`
	Architecture string        `json:"architecture"`
	OS           string        `json:"os"`
	Config       runConfig     `json:"config"`
	RootFS       rootFS        `json:"rootfs"`
	History      []historyItem `json:"history"`
}

// runConfig is the execution part of an image configuration.
type runConfig struct {
	User       string            `json:"User"`
	Entrypoint []string          `json:"Entrypoint"`
	Env        []string          `json:"Env"`
	WorkingDir string            `json:"WorkingDir"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

// rootFS lists the uncompressed layer digests.
type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// historyItem is one entry of an image configuration's history.
type historyItem struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

// dockerManifest is one entry of Docker's manifest.json.
type dockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
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

// blob is content addressed by its sha256 digest.
type blob struct {
	digest string // "sha256:<hex>"
	data   []byte
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{digest: "sha256:" + hex.EncodeToString(sum[:]), data: data}
}

// path is where the blob lives in an image layout.
func (b blob) path() string {
	return "blobs/sha256/" + strings.TrimPrefix(b.digest, "sha256:")
}

func (b blob) descriptor(mediaType string) descriptor {
	return descriptor{MediaType: mediaType, Digest: b.digest, Size: int64(len(b.data))}
}

func jsonBlob(v any) (blob, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return blob{}, fmt.Errorf("failed to encode %T: %w", v, err)
	}
	return newBlob(data), nil
}

// writeImage writes img as an OCI image-layout tarball (with Docker's
// manifest.json beside it) to w.
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
	layer := newBlob(layerTar)
	stamp := created.Format(time.RFC3339)
	cfg, err := jsonBlob(config{
		Created:      stamp,
		Architecture: arch,
		OS:           "linux",
		Config: runConfig{
			User:       img.Spec.User,
			Entrypoint: img.Spec.Entrypoint,
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			WorkingDir: "/",
			Labels:     img.Spec.Labels,
		},
		RootFS:  rootFS{Type: "layers", DiffIDs: []string{layer.digest}},
		History: []historyItem{{Created: stamp, CreatedBy: "hack/ociimage: " + img.Spec.Entrypoint[0]}},
	})
	if err != nil {
		return err
	}
	man, err := jsonBlob(manifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeManifest,
		Config:        cfg.descriptor(mediaTypeConfig),
		Layers:        []descriptor{layer.descriptor(mediaTypeLayer)},
	})
	if err != nil {
		return err
	}
	idx := index{SchemaVersion: 2, MediaType: mediaTypeIndex}
	var repoTags []string
	for _, t := range img.Tags {
		name, tag, err := splitTag(t)
		if err != nil {
			return err
		}
		d := man.descriptor(mediaTypeManifest)
		d.Platform = &platform{Architecture: arch, OS: "linux"}
		d.Annotations = map[string]string{annotationRefName: tag, annotationContainerName: canonicalName(name) + ":" + tag}
		idx.Manifests = append(idx.Manifests, d)
		repoTags = append(repoTags, name+":"+tag)
	}
	if len(idx.Manifests) == 0 {
		return fmt.Errorf("no tag")
	}
	indexJSON, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("failed to encode the index: %w", err)
	}
	dockerJSON, err := json.Marshal([]dockerManifest{{Config: cfg.path(), RepoTags: repoTags, Layers: []string{layer.path()}}})
	if err != nil {
		return fmt.Errorf("failed to encode manifest.json: %w", err)
	}

	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"blobs/", nil},
		{"blobs/sha256/", nil},
		{layer.path(), layer.data},
		{cfg.path(), cfg.data},
		{man.path(), man.data},
		{"index.json", indexJSON},
		{"manifest.json", dockerJSON},
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
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
