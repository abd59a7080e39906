package checkout

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoot(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	// This package sits at internal/checkout of the checkout.
	if diff := cmp.Diff(filepath.Join(root, "internal", "checkout"), mustGetwd(t)); diff != "" {
		t.Errorf("Root() is not two levels up (-want +got):\n%s", diff)
	}
}

func TestRootSkipsOtherModules(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), module+"\n\ngo 1.26\n")
	tools := filepath.Join(dir, "conformance", "tools")
	writeFile(t, filepath.Join(tools, "go.mod"), "module github.com/barelb/barelb/conformance/tools\n")
	t.Chdir(tools)
	got, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ = filepath.EvalSymlinks(got); got != want {
		t.Errorf("Root() = %q, want %q", got, want)
	}
}

func TestBinDirAndRequire(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "etcd"), "")
	t.Setenv(BinEnv, dir)
	got, err := BinDir()
	if err != nil || got != dir {
		t.Fatalf("BinDir() = %q, %v; want %q", got, err, dir)
	}
	if err := Require(dir, "etcd"); err != nil {
		t.Errorf("Require(etcd) = %v, want nil", err)
	}
	if err := Require(dir, "etcd", "kube-apiserver"); !errors.Is(err, ErrBinaryMissing) {
		t.Errorf("Require(etcd, kube-apiserver) = %v, want ErrBinaryMissing", err)
	}
	if _, err := Binary("barelb-ccm"); !errors.Is(err, ErrBinaryMissing) {
		t.Errorf("Binary(barelb-ccm) = %v, want ErrBinaryMissing", err)
	}
	if p, err := Binary("etcd"); err != nil || p != filepath.Join(dir, "etcd") {
		t.Errorf("Binary(etcd) = %q, %v; want %q", p, err, filepath.Join(dir, "etcd"))
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
