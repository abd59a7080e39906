package keys

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/gossipkey"
)

// LoadFile reads the keys from a file, as a Secret mounted into the pod
// (its secretkey entry) provides them.
func LoadFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read gossip key file: %w", err)
	}
	keys, err := gossipkey.Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("gossip key file %s: %w", path, err)
	}
	return keys, nil
}

// FileFollower re-reads a key file and calls Update when its content
// changed. The kubelet updates a mounted Secret by swapping a symlink, which
// leaves nothing to subscribe to portably, so the file is read again every
// Interval; a read costs one small file.
type FileFollower struct {
	Path     string
	Interval time.Duration
	Update   func(keys [][]byte) error
}

// Run follows the file until ctx ends.
func (f *FileFollower) Run(ctx context.Context) error {
	log := klog.FromContext(ctx).WithValues("file", f.Path)
	last, _ := os.ReadFile(f.Path)
	t := time.NewTicker(f.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		b, err := os.ReadFile(f.Path)
		if err != nil || bytes.Equal(b, last) {
			continue
		}
		keys, err := gossipkey.Parse(string(b))
		if err != nil {
			log.Error(err, "Invalid gossip key file; keeping the keys in force")
			continue
		}
		if err := f.Update(keys); err != nil {
			log.Error(err, "Failed to install new gossip keys")
			continue
		}
		last = b
		log.Info("Gossip keys installed", "keys", len(keys))
	}
}
