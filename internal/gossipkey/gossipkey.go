package gossipkey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// DataKey is the key of the Secret's data that holds the gossip keys. It is
// the key MetalLB's memberlist Secret uses, so a migrating cluster can keep
// its Secret.
const DataKey = "secretkey"

// MinLength is the shortest key accepted, in bytes of text.
const MinLength = 16

// ErrNoKey is returned when the Secret holds no usable key.
var ErrNoKey = errors.New("no gossip key")

// Parse reads the gossip keys from the text of the Secret's DataKey: one key
// per line, blank lines and surrounding white space ignored. The first key is
// the primary one (it encrypts); the others are only accepted (they decrypt),
// which is what a rotation without downtime needs:
//
//  1. "old\nnew" everywhere: every node accepts both;
//  2. "new\nold": nodes start encrypting with the new key, which all accept;
//  3. "new": the old key is gone.
//
// Each line is turned into a 32-byte AES-256 key with SHA-256, so any text of
// at least MinLength characters works, including the base64 text of a
// MetalLB memberlist Secret, and every version derives the same key.
func Parse(text string) ([][]byte, error) {
	var keys [][]byte
	seen := map[[sha256.Size]byte]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(line) < MinLength {
			return nil, fmt.Errorf("%s line %d: key is %d characters long, want at least %d", DataKey, i+1, len(line), MinLength)
		}
		sum := sha256.Sum256([]byte(line))
		if seen[sum] {
			continue
		}
		seen[sum] = true
		keys = append(keys, sum[:])
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w", DataKey, ErrNoKey)
	}
	return keys, nil
}

// Generate returns a new random key as text, ready for the Secret.
func Generate() (string, error) {
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("failed to read random bytes: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
