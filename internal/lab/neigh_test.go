package lab

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// raiseLimits on stand-in files: the host's own limits are shared with
// every test running at the same time, so they are not touched here.
func TestRaiseLimits(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"v4/gc_thresh2": "512\n", "v4/gc_thresh3": "1024\n",
		"v6/gc_thresh2": "5000\n", "v6/gc_thresh3": "1024\n",
	}
	var paths []string
	for name, v := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	read := func() map[string]string {
		out := map[string]string{}
		for name := range files {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			out[name] = string(b)
		}
		return out
	}

	restore, err := raiseLimits(paths, 4096)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"v4/gc_thresh2": "2048", "v4/gc_thresh3": "4096", "v6/gc_thresh2": "5000\n", "v6/gc_thresh3": "4096"}
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("raised (-want +got):\n%s", diff)
	}
	// Someone else changes one of them meanwhile: theirs stays.
	if err := os.WriteFile(filepath.Join(dir, "v6/gc_thresh3"), []byte("9999"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"v4/gc_thresh2": "512\n", "v4/gc_thresh3": "1024\n", "v6/gc_thresh2": "5000\n", "v6/gc_thresh3": "9999"}
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
}

func TestRaiseLimitsRefusesGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gc_thresh3")
	if err := os.WriteFile(p, []byte("many"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := raiseLimits([]string{p}, 10); err == nil {
		t.Error("raiseLimits() accepted a file that holds no number")
	}
}
