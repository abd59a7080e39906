package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A live lab holds an exclusive flock on lockDir/<id>.lock from before it creates its first namespace
// until after it removed its last one. The kernel drops the lock when the process dies, so a lock
// that can be taken marks a lab whose owner is gone: that is how Sweep tells leftovers of a crashed
// run from the labs of tests running in parallel in other processes.

// lockNew picks a fresh lab id "<name>-<suffix>" and returns it with its held lock file.
func lockNew(name string) (string, *os.File, error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return "", nil, fmt.Errorf("failed to create lock directory: %w", err)
	}
	for range 8 {
		id := name + "-" + newSuffix()
		f, err := os.OpenFile(filepath.Join(lockDir, id+".lock"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", nil, fmt.Errorf("failed to create lab lock: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			_ = os.Remove(f.Name())
			_ = f.Close()
			return "", nil, fmt.Errorf("failed to lock lab lock: %w", err)
		}
		return id, f, nil
	}
	return "", nil, errors.New("failed to pick a unique lab name")
}

// Sweep removes the namespaces of labs named with prefix (Options.Name) whose owning process is gone,
// for example after a crashed test run. Labs of live processes are left alone, so it is safe to call
// while other labs run. New calls it for its own prefix.
func Sweep(prefix string) error {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to list namespaces: %w", err)
	}
	re := regexp.MustCompile(`^(` + regexp.QuoteMeta(prefix) + `-[0-9a-f]{6})-`)
	byLab := map[string][]string{}
	for _, e := range entries {
		if m := re.FindStringSubmatch(e.Name()); m != nil {
			byLab[m[1]] = append(byLab[m[1]], e.Name())
		}
	}
	var errs []error
	for id, names := range byLab {
		errs = append(errs, sweepLab(id, names))
	}
	return errors.Join(errs...)
}

func sweepLab(id string, names []string) error {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return fmt.Errorf("failed to create lock directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(lockDir, id+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("failed to open lock of lab %s: %w", id, err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
		return nil // alive
	} else if err != nil {
		return fmt.Errorf("failed to lock lab %s: %w", id, err)
	}
	var errs []error
	for _, name := range names {
		errs = append(errs, deleteNamed(name))
	}
	errs = append(errs, ignoreNotExist(os.Remove(f.Name())))
	return errors.Join(errs...)
}

// netnsDir is where iproute2 (and github.com/vishvananda/netns) keep named namespaces.
const netnsDir = "/run/netns"

// deleteNamed removes a named namespace like `ip netns delete`; a missing one is not an error.
func deleteNamed(name string) error {
	if strings.ContainsRune(name, '/') {
		return fmt.Errorf("invalid namespace name %q", name)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	err := netns.DeleteNamed(name)
	if errors.Is(err, unix.EINVAL) { // not mounted: a file left by a failed `ip netns add`
		err = os.Remove(filepath.Join(netnsDir, name))
	}
	if err = ignoreNotExist(err); err != nil {
		return fmt.Errorf("failed to delete namespace %s: %w", name, err)
	}
	return nil
}
