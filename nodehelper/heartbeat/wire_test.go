package heartbeat

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWireBytes(t *testing.T) {
	t.Parallel()
	got, err := Append(nil, Message{Name: "n1", Boot: 0x0102030405060708, Seq: 9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		'B', 'L', 'H', 'B', 1, 0, 2, 'n', '1',
		1, 2, 3, 4, 5, 6, 7, 8,
		0, 0, 0, 0, 0, 0, 0, 9,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("untagged heartbeat (-want +got):\n%s", diff)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := DeriveKey([]byte("0123456789abcdef")), DeriveKey([]byte("fedcba9876543210")), DeriveKey([]byte("another key 1234"))
	msg := Message{Name: "node-a", Boot: 7, Seq: 42}
	tagged, _ := Append(nil, msg, k1)
	plain, _ := Append(nil, msg, nil)
	flipped := bytes.Clone(tagged)
	flipped[len(flipped)-tagLen-1] ^= 1 // the seq, under the tag
	tests := []struct {
		name    string
		in      []byte
		keys    [][]byte
		want    Message
		wantErr error
	}{
		{name: "tagged, primary key", in: tagged, keys: [][]byte{k1}, want: msg},
		{name: "tagged, second key of a rotation", in: tagged, keys: [][]byte{k2, k1}, want: msg},
		{name: "tagged, unknown key", in: tagged, keys: [][]byte{k3}, wantErr: ErrBadTag},
		{name: "altered under the tag", in: flipped, keys: [][]byte{k1}, wantErr: ErrBadTag},
		{name: "untagged where keys are set", in: plain, keys: [][]byte{k1}, wantErr: ErrUntagged},
		{name: "untagged, no keys", in: plain, want: msg},
		{name: "tagged, no keys", in: tagged, wantErr: ErrMalformed},
		{name: "truncated", in: tagged[:len(tagged)-1], keys: [][]byte{k1}, wantErr: ErrMalformed},
		{name: "trailing byte", in: append(bytes.Clone(plain), 0), wantErr: ErrMalformed},
		{name: "empty", in: nil, wantErr: ErrMalformed},
		{name: "other magic", in: append([]byte("XLHB"), plain[4:]...), wantErr: ErrMalformed},
		{name: "unknown flag", in: append(append(bytes.Clone(plain[:5]), 2), plain[6:]...), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, tt.keys)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse error %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendRejectsNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", string(make([]byte, MaxNameLen+1))} {
		if _, err := Append(nil, Message{Name: name}, nil); err == nil {
			t.Errorf("Append with a name of %d bytes: no error", len(name))
		}
	}
}

// FuzzParse checks that Parse never panics and that what it accepts
// encodes back to the same bytes.
func FuzzParse(f *testing.F) {
	key := DeriveKey([]byte("0123456789abcdef"))
	good, _ := Append(nil, Message{Name: "n1", Boot: 1, Seq: 2}, key)
	f.Add(good, true)
	plain, _ := Append(nil, Message{Name: "n1", Boot: 1, Seq: 2}, nil)
	f.Add(plain, false)
	f.Fuzz(func(t *testing.T, b []byte, keyed bool) {
		var keys [][]byte
		var k []byte
		if keyed {
			keys, k = [][]byte{key}, key
		}
		m, err := Parse(b, keys)
		if err != nil {
			return
		}
		again, err := Append(nil, m, k)
		if err != nil {
			t.Fatalf("Append of a parsed message: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip changed the bytes:\n in %x\nout %x", b, again)
		}
	})
}
