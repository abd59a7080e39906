package config

import (
	"strconv"
	"strings"
)

// FieldError is one problem found in a configuration, with its location.
type FieldError struct {
	// Path locates the offending field, e.g. `address-pools[1] "my-ip-space": addresses[0]`.
	// It is empty for problems with the document as a whole.
	Path string `json:"path,omitempty"`
	// Line is the 1-based line in the parsed input, or 0 when unknown.
	Line int `json:"line,omitempty"`
	// Value is the offending value as written, empty when there is none.
	Value string `json:"value,omitempty"`
	// Message says what is wrong, in lower case.
	Message string `json:"message"`
}

// Error renders the error on one line: path "value": message (line N).
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Value != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(e.Value))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Line > 0 {
		b.WriteString(" (line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(')')
	}
	return b.String()
}

// ErrorList is every problem found in a configuration, in the order found.
// Parse returns a non-empty ErrorList as its error.
type ErrorList []*FieldError

// Error renders one error per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Warning is something valid but noteworthy in a configuration, such as a feature barelb does not implement.
type Warning struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String renders the warning as path: message.
func (w Warning) String() string {
	if w.Path == "" {
		return w.Message
	}
	return w.Path + ": " + w.Message
}

// child returns the path of key below parent. A key follows a labelled
// segment (one ending in a quoted name) after ": ", any other after ".".
func child(parent, key string) string {
	switch {
	case parent == "":
		return key
	case strings.HasSuffix(parent, `"`):
		return parent + ": " + key
	default:
		return parent + "." + key
	}
}

// index returns the path of element i of the list at path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// labelled returns path followed by a quoted name, when name is not empty.
func labelled(path, name string) string {
	if name == "" {
		return path
	}
	return path + " " + strconv.Quote(name)
}
