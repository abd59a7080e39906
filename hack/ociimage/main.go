package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	dockerfile := fs.String("dockerfile", "", "The Dockerfile whose last stage gives USER, ENTRYPOINT (exec form) and LABELs (required).")
	binary := fs.String("binary", "", "The static Linux executable, put at ENTRYPOINT's first element (required).")
	tags := fs.String("tag", "", "Comma-separated image names, e.g. barelb/barelb-ccm:latest,barelb/barelb-ccm:v0.1.0 (required).")
	created := fs.String("created", "1970-01-01T00:00:00Z", "Creation time (RFC 3339) and every file's modification time; e.g. the commit time, for reproducible images.")
	out := fs.String("o", "", "The output tarball (required).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dockerfile == "" || *binary == "" || *tags == "" || *out == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: ociimage -dockerfile F -binary B -tag NAME[:TAG][,...] [-created T] -o OUT.tar")
	}
	t, err := time.Parse(time.RFC3339, *created)
	if err != nil {
		return fmt.Errorf("failed to parse -created: %w", err)
	}
	df, err := os.Open(*dockerfile)
	if err != nil {
		return fmt.Errorf("failed to open the Dockerfile: %w", err)
	}
	spec, err := parseDockerfile(df)
	df.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *dockerfile, err)
	}
	bin, err := os.ReadFile(*binary)
	if err != nil {
		return fmt.Errorf("failed to read the binary: %w", err)
	}
	img := image{Binary: bin, Spec: spec, Tags: strings.Split(*tags, ","), Created: t}
	return writeFile(*out, img)
}

// writeFile writes the image to a temporary file beside path and renames it
// into place, so a failed run leaves no truncated tarball.
func writeFile(path string, img image) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("failed to create the output directory: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".ociimage-*")
	if err != nil {
		return fmt.Errorf("failed to create the output: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := writeImage(w, img); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("failed to write the output: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("failed to write the output: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to write the output: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("failed to write the output: %w", err)
	}
	return nil
}
