package heartbeat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire format, version 1 (big-endian):
//
//	magic "BLHB" | version 1 | flags | name length n | name (n bytes) |
//	boot (8) | seq (8) | tag (16, when flags has flagTagged)
//
// boot is chosen at random when the sender starts and seq counts up from 1,
// so a receiver rejects replays of the same run. The tag is the first 16
// bytes of HMAC-SHA256 over everything before it, keyed with a key derived
// from a gossip key (DeriveKey).
const (
	magic      = "BLHB"
	version    = 1
	flagTagged = 1 << 0
	tagLen     = 16
	headerLen  = len(magic) + 3
	// MaxNameLen is the longest node name a heartbeat carries (a DNS name).
	MaxNameLen = 253
)

// Message is one heartbeat.
type Message struct {
	// Name is the sender's node name (its gossip member name).
	Name string
	// Boot identifies one run of the sender; Seq counts its heartbeats.
	Boot, Seq uint64
}

// Parse errors; a caller counts them by kind.
var (
	ErrMalformed = errors.New("malformed heartbeat")
	ErrUntagged  = errors.New("heartbeat not authenticated")
	ErrBadTag    = errors.New("heartbeat authenticated with an unknown key")
)

// DeriveKey returns the key heartbeats are authenticated with for one gossip
// key, so that the gossip key itself never keys a second protocol.
func DeriveKey(gossipKey []byte) []byte {
	m := hmac.New(sha256.New, gossipKey)
	m.Write([]byte("barelb heartbeat v1"))
	return m.Sum(nil)
}

// Append appends m's encoding to b, tagged with key unless key is nil.
func Append(b []byte, m Message, key []byte) ([]byte, error) {
	if m.Name == "" || len(m.Name) > MaxNameLen {
		return b, fmt.Errorf("failed to encode heartbeat: name %q: want 1 to %d bytes", m.Name, MaxNameLen)
	}
	start := len(b)
	flags := byte(0)
	if key != nil {
		flags = flagTagged
	}
	b = append(b, magic...)
	b = append(b, version, flags, byte(len(m.Name)))
	b = append(b, m.Name...)
	b = binary.BigEndian.AppendUint64(b, m.Boot)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	if key != nil {
		b = append(b, tag(key, b[start:])...)
	}
	return b, nil
}

// Parse decodes one heartbeat. With keys (derived, see DeriveKey) it accepts
// only a message tagged with one of them; without, only an untagged one.
func Parse(b []byte, keys [][]byte) (Message, error) {
	if len(b) < headerLen || string(b[:len(magic)]) != magic || b[4] != version {
		return Message{}, ErrMalformed
	}
	flags, n := b[5], int(b[6])
	body := headerLen + n + 16
	if n == 0 || flags&^flagTagged != 0 || len(b) < body {
		return Message{}, ErrMalformed
	}
	tagged := flags&flagTagged != 0
	switch {
	case tagged && len(b) != body+tagLen, !tagged && len(b) != body:
		return Message{}, ErrMalformed
	case len(keys) > 0 && !tagged:
		return Message{}, ErrUntagged
	case len(keys) == 0 && tagged:
		return Message{}, ErrMalformed
	}
	if tagged && !anyTag(keys, b[:body], b[body:]) {
		return Message{}, ErrBadTag
	}
	return Message{
		Name: string(b[headerLen : headerLen+n]),
		Boot: binary.BigEndian.Uint64(b[headerLen+n:]),
		Seq:  binary.BigEndian.Uint64(b[headerLen+n+8:]),
	}, nil
}

func tag(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)[:tagLen]
}

func anyTag(keys [][]byte, msg, got []byte) bool {
	for _, k := range keys {
		if hmac.Equal(tag(k, msg), got) {
			return true
		}
	}
	return false
}
