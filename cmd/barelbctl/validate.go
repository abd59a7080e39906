package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/barelb/barelb/internal/config"
)

// maxInput bounds what validate reads; a ConfigMap holds at most 1 MiB.
const maxInput = 16 << 20

// validateResult is the -o json output of validate.
type validateResult struct {
	File     string               `json:"file"`
	Valid    bool                 `json:"valid"`
	Errors   []*config.FieldError `json:"errors"`
	Warnings []config.Warning     `json:"warnings"`
}

// runValidate implements "barelbctl validate FILE|- [-o text|json]".
func runValidate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("o", "text", "output format: text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: barelbctl validate FILE|- [-o text|json]")
		fs.PrintDefaults()
	}
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(files) != 1 || (*output != "text" && *output != "json") {
		fs.Usage()
		return exitUsage
	}
	name, data, err := readInput(files[0], stdin)
	if err != nil {
		fmt.Fprintf(stderr, "barelbctl validate: %v\n", err)
		return exitUsage
	}

	res := validateResult{File: name, Valid: true, Errors: []*config.FieldError{}, Warnings: []config.Warning{}}
	_, warns, err := config.Parse(data)
	res.Warnings = append(res.Warnings, warns...)
	if err != nil {
		res.Valid = false
		var list config.ErrorList
		if !errors.As(err, &list) {
			list = config.ErrorList{{Message: err.Error()}}
		}
		res.Errors = list
	}

	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "barelbctl validate: failed to write output: %v\n", err)
			return exitUsage
		}
	} else {
		writeText(stdout, res)
	}
	if !res.Valid {
		return exitInvalid
	}
	return exitOK
}

// writeText prints "valid" and the warnings, or one line per error prefixed by the file name.
func writeText(w io.Writer, res validateResult) {
	if !res.Valid {
		for _, e := range res.Errors {
			fmt.Fprintf(w, "%s: %s\n", res.File, e.Error())
		}
		return
	}
	fmt.Fprintln(w, "valid")
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// parseInterleaved parses flags that may come before or after the positional
// arguments, which the flag package alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// readInput reads the file at path, or stdin for "-". It returns the name to report.
func readInput(path string, stdin io.Reader) (string, []byte, error) {
	name, r := path, stdin
	if path == "-" {
		name = "<stdin>"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", nil, fmt.Errorf("failed to read config: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return "", nil, fmt.Errorf("failed to read %s: %w", name, err)
	}
	if len(data) > maxInput {
		return "", nil, fmt.Errorf("failed to read %s: larger than %d bytes", name, maxInput)
	}
	return name, data, nil
}
