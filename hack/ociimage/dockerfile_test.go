package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDockerfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		want      runtimeSpec
		wantError bool
	}{
		{
			name: "last stage only",
			in: "FROM golang AS build\nUSER 1000\nENTRYPOINT [\"/wrong\"]\n" +
				"FROM scratch\n# comment\nLABEL a=b c=\"d \\\"e\\\"\"\nUSER 65532:65532\nENTRYPOINT [\"/barelb-ccm\", \"--v=2\"]\n",
			want: runtimeSpec{User: "65532:65532", Entrypoint: []string{"/barelb-ccm", "--v=2"}, Labels: map[string]string{"a": "b", "c": `d "e"`}},
		},
		{
			name: "continuation lines and lower-case keywords",
			in:   "from scratch\nlabel x=1 \\\n  y=2\nuser 0\nentrypoint [\"/x\"]\n",
			want: runtimeSpec{User: "0", Entrypoint: []string{"/x"}, Labels: map[string]string{"x": "1", "y": "2"}},
		},
		{name: "no FROM", in: "USER 0\nENTRYPOINT [\"/x\"]\n", wantError: true},
		{name: "no USER", in: "FROM scratch\nENTRYPOINT [\"/x\"]\n", wantError: true},
		{name: "named USER", in: "FROM scratch\nUSER nonroot\nENTRYPOINT [\"/x\"]\n", wantError: true},
		{name: "variable USER", in: "FROM scratch\nUSER $UID\nENTRYPOINT [\"/x\"]\n", wantError: true},
		{name: "shell-form ENTRYPOINT", in: "FROM scratch\nUSER 0\nENTRYPOINT /x --flag\n", wantError: true},
		{name: "relative ENTRYPOINT", in: "FROM scratch\nUSER 0\nENTRYPOINT [\"x\"]\n", wantError: true},
		{name: "unterminated label", in: "FROM scratch\nLABEL a=\"b\nUSER 0\nENTRYPOINT [\"/x\"]\n", wantError: true},
		{name: "label without value", in: "FROM scratch\nLABEL a\nUSER 0\nENTRYPOINT [\"/x\"]\n", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDockerfile(strings.NewReader(tt.in))
			if (err != nil) != tt.wantError {
				t.Fatalf("parseDockerfile() error = %v, want error %v", err, tt.wantError)
			}
			if tt.wantError {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseDockerfile() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRepositoryDockerfiles pins what the images run as: the CCM as nonroot,
// the node helper as root (with only NET_RAW, from its manifest).
func TestRepositoryDockerfiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file           string
		wantUser       string
		wantEntrypoint []string
	}{
		{file: "Dockerfile.ccm", wantUser: "65532:65532", wantEntrypoint: []string{"/barelb-ccm"}},
		{file: "Dockerfile.nodehelper", wantUser: "0:0", wantEntrypoint: []string{"/barelb-nodehelper"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := readDockerfile(t, tt.file)
			if diff := cmp.Diff(tt.wantUser, got.User); diff != "" {
				t.Errorf("USER (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEntrypoint, got.Entrypoint); diff != "" {
				t.Errorf("ENTRYPOINT (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseDockerfile(f *testing.F) {
	for _, name := range []string{"Dockerfile.ccm", "Dockerfile.nodehelper"} {
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("FROM scratch\nLABEL a=\"\\\nUSER 0:0\nENTRYPOINT [\"/x\"]\n")
	f.Fuzz(func(t *testing.T, in string) {
		spec, err := parseDockerfile(strings.NewReader(in))
		if err != nil {
			return
		}
		if _, _, err := parseUser(spec.User); err != nil {
			t.Errorf("accepted USER %q: %v", spec.User, err)
		}
		if len(spec.Entrypoint) == 0 || !strings.HasPrefix(spec.Entrypoint[0], "/") {
			t.Errorf("accepted ENTRYPOINT %q", spec.Entrypoint)
		}
	})
}
