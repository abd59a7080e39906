package gossipkey

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestParse(t *testing.T) {
	const a, b = "0123456789abcdef-first", "0123456789abcdef-second"
	tests := []struct {
		name    string
		text    string
		want    [][]byte
		wantErr string
	}{
		{name: "one key", text: a, want: [][]byte{sum(a)}},
		{name: "primary first", text: b + "\n" + a + "\n", want: [][]byte{sum(b), sum(a)}},
		{name: "blank lines and spaces", text: "\n  " + a + "  \n\n" + b, want: [][]byte{sum(a), sum(b)}},
		{name: "duplicate dropped", text: a + "\n" + a, want: [][]byte{sum(a)}},
		{name: "empty", text: " \n", wantErr: "secretkey: no gossip key"},
		{name: "too short", text: a + "\nshort", wantErr: "secretkey line 2: key is 5 characters long, want at least 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Parse() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseEmptyIsErrNoKey(t *testing.T) {
	if _, err := Parse(""); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Parse(\"\") error = %v, want ErrNoKey", err)
	}
}

func TestGenerateParses(t *testing.T) {
	k1, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if k1 == k2 {
		t.Fatalf("Generate() returned the same key twice: %q", k1)
	}
	keys, err := Parse(k1 + "\n" + k2)
	if err != nil {
		t.Fatalf("Parse(generated) error = %v", err)
	}
	if len(keys) != 2 || len(keys[0]) != 32 {
		t.Fatalf("Parse(generated) = %d keys of %d bytes, want 2 of 32", len(keys), len(keys[0]))
	}
}

func FuzzParse(f *testing.F) {
	f.Add("0123456789abcdef")
	f.Add("a\nb\n\n0123456789abcdef0123")
	f.Fuzz(func(t *testing.T, text string) {
		keys, err := Parse(text)
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatal("no error and no keys")
		}
		for _, k := range keys {
			if len(k) != 32 {
				t.Fatalf("key of %d bytes", len(k))
			}
		}
	})
}
