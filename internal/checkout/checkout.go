package checkout

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// BinEnv names the environment variable that overrides the bin directory (the Makefile sets it).
const BinEnv = "BARELB_BIN"

// module is the first line of the checkout's go.mod.
const module = "module github.com/barelb/barelb"

// ErrBinaryMissing means a binary the caller needs is not in the bin directory, or there is no bin
// directory to look in: run make build controlplane. Tests skip on it unless
// $BARELB_REQUIRE_CONTROLPLANE is 1.
var ErrBinaryMissing = errors.New("binary missing (run make build controlplane)")

// Root returns the barelb checkout around the working directory: the nearest directory upwards
// whose go.mod declares the barelb module (tests run in their package's directory, and the tools
// module below conformance/ is not it).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("failed to get working directory: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			first, _, _ := strings.Cut(string(b), "\n")
			if strings.TrimSpace(first) == module {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("failed to find the barelb checkout around the working directory")
		}
		dir = parent
	}
}

// BinDir returns $BARELB_BIN, else the bin directory of Root. Its error wraps ErrBinaryMissing.
func BinDir() (string, error) {
	if d := os.Getenv(BinEnv); d != "" {
		return d, nil
	}
	root, err := Root()
	if err != nil {
		return "", fmt.Errorf("%w: no $%s and %w", ErrBinaryMissing, BinEnv, err)
	}
	return filepath.Join(root, "bin"), nil
}

// Require checks that each of names is in dir; its error wraps ErrBinaryMissing and names every
// missing one.
func Require(dir string, names ...string) error {
	var errs []error
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrBinaryMissing, errors.Join(errs...))
}

// Binary returns the path of name in BinDir, checked to exist; its error wraps ErrBinaryMissing.
func Binary(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	if err := Require(dir, name); err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}
