// Command ociimage writes an OCI image of one static Linux binary on an empty
// base as an image-layout tarball, without a registry or a container engine;
// the Dockerfile of the same image names its user, entrypoint and labels.
//
// Usage:
//
//	ociimage -dockerfile Dockerfile.ccm -binary bin/static/barelb-ccm \
//	    -tag barelb/barelb-ccm:latest -created 2026-01-02T03:04:05Z -o bin/images/barelb-ccm.tar
//
// The tarball holds both the OCI image layout (oci-layout, index.json, blobs)
// and Docker's manifest.json, so `docker load`, `podman load`, `skopeo copy
// oci-archive:...` and `crane push` all read it. The one layer is uncompressed,
// so its digest is its diff ID, and the output is byte-for-byte reproducible
// for the same inputs and -created.
//
// go-containerregistry assembles the image, its configuration, manifest and
// index; this command reads the Dockerfile, builds the one layer and archives
// the blobs. It is a module of its own (run it with `make images`), so the
// project's go.mod stays free of go-containerregistry.
package main
