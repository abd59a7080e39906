package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/barelb/barelb/internal/controlplane"
)

// repoRoot is the checkout's root, seen from this package's directory.
var repoRoot = filepath.Join("..", "..")

// docFiles are the documents whose shell examples TestDocCommands runs.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join(repoRoot, "README.md")}, files...)
}

// invocation is one barelbctl command found in a document.
type invocation struct {
	where string // file:line
	args  []string
	stdin bool // fed by a pipe
}

var barelbctlCall = regexp.MustCompile(`(?:^|[\s/(])barelbctl((?:[ \t]+[^\s|;&()"'<>$` + "`" + `]+)*)`)

// shellInvocations extracts the barelbctl commands of the fenced sh, shell,
// bash and console blocks of a Markdown document: continuation lines joined,
// comments dropped, one invocation per barelbctl in a pipeline or $(...).
func shellInvocations(name string, doc []byte) []invocation {
	var out []invocation
	inShell, inFence := false, false
	var pending string
	pendingLine := 0
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if inFence {
				inFence, inShell = false, false
				continue
			}
			inFence = true
			lang := strings.TrimPrefix(trimmed, "```")
			inShell = lang == "sh" || lang == "shell" || lang == "bash" || lang == "console"
			continue
		}
		if !inShell {
			continue
		}
		if pending == "" {
			pendingLine = n
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			pending += cont + " "
			continue
		}
		full := strings.TrimPrefix(pending+trimmed, "$ ")
		pending = ""
		if i := strings.Index(full, " #"); i >= 0 {
			full = full[:i]
		}
		if strings.HasPrefix(full, "#") {
			continue
		}
		for _, m := range barelbctlCall.FindAllStringSubmatchIndex(full, -1) {
			before := strings.TrimSpace(full[:m[0]])
			out = append(out, invocation{
				where: name + ":" + strconv.Itoa(pendingLine),
				args:  strings.Fields(full[m[2]:m[3]]),
				stdin: strings.HasSuffix(before, "|"),
			})
		}
	}
	return out
}

func TestShellInvocations(t *testing.T) {
	doc := "text barelbctl validate x\n" +
		"```sh\n" +
		"bin/barelbctl validate manifests/example-config.yaml   # a comment\n" +
		"kubectl create secret generic memberlist --from-literal=secretkey=\"$(barelbctl keygen)\"\n" +
		"kubectl get cm config -o yaml | barelbctl validate -\n" +
		"barelbctl status \\\n  -o json\n" +
		"# barelbctl commented\n" +
		"```\n" +
		"```yaml\nbarelbctl: not shell\n```\n"
	want := []invocation{
		{where: "d:3", args: []string{"validate", "manifests/example-config.yaml"}},
		{where: "d:4", args: []string{"keygen"}},
		{where: "d:5", args: []string{"validate", "-"}, stdin: true},
		{where: "d:6", args: []string{"status", "-o", "json"}},
	}
	got := shellInvocations("d", []byte(doc))
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(invocation{})); diff != "" {
		t.Errorf("shellInvocations (-want +got):\n%s", diff)
	}
}

// TestDocCommands runs every barelbctl command of the README and docs/*.md
// with the built binary, from the repository root as a reader would: the
// commands that need no cluster as they are (a piped stdin gets the example
// ConfigMap), and status against a real, empty kube-apiserver.
func TestDocCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds barelbctl")
	}
	var calls []invocation
	for _, f := range docFiles(t) {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repoRoot, f)
		calls = append(calls, shellInvocations(rel, doc)...)
	}
	seen := map[string]bool{}
	for _, c := range calls {
		if len(c.args) > 0 {
			seen[c.args[0]] = true
		}
	}
	for _, sub := range []string{"validate", "keygen", "status"} {
		if !seen[sub] {
			t.Errorf("the docs show no `barelbctl %s`; the extraction is broken or the docs lost it", sub)
		}
	}

	bin := filepath.Join(t.TempDir(), "barelbctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("failed to build barelbctl: %v\n%s", err, out)
	}
	example, err := os.ReadFile(filepath.Join(repoRoot, "manifests", "example-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, skipCluster := docControlPlane(t)
	for _, c := range calls {
		t.Run(c.where+" "+strings.Join(c.args, " "), func(t *testing.T) {
			if len(c.args) == 0 {
				t.Fatalf("barelbctl without a command")
			}
			cmd := exec.Command(bin, c.args...)
			cmd.Dir = repoRoot
			cmd.Env = os.Environ()
			if c.stdin {
				cmd.Stdin = bytes.NewReader(example)
			}
			wantCodes := []int{exitOK}
			if _, ok := commands()[c.args[0]]; !ok {
				t.Fatalf("the docs show an unknown command %q", c.args[0])
			}
			if c.args[0] == "status" {
				if skipCluster != "" {
					t.Skip(skipCluster)
				}
				cmd.Env = append(cmd.Env, "KUBECONFIG="+kubeconfig)
				wantCodes = []int{exitOK, exitInvalid} // an empty cluster has no configuration
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			ok := false
			for _, w := range wantCodes {
				ok = ok || code == w
			}
			if !ok {
				t.Errorf("exit code %d, want one of %v\nstdout:\n%s\nstderr:\n%s", code, wantCodes, stdout.String(), stderr.String())
			}
		})
	}
}

// docControlPlane starts the control plane the docs' status commands run
// against, for the whole of t. When its binaries are missing it returns why
// those commands are skipped, unless $BARELB_REQUIRE_CONTROLPLANE is 1.
func docControlPlane(t *testing.T) (kubeconfig, skip string) {
	t.Helper()
	cp, err := controlplane.Start(t.Context(), controlplane.Options{})
	if errors.Is(err, controlplane.ErrBinariesMissing) && os.Getenv(controlplane.RequireEnv) != "1" {
		return "", fmt.Sprintf("%v; run make controlplane", err)
	}
	if err != nil {
		t.Fatalf("failed to start control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("failed to stop control plane: %v", err)
		}
	})
	return cp.Kubeconfig(), ""
}
