package membership

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// HelperNiceness is the niceness the node helper should run with (see
// RaisePriority): favoured enough that saturating busy processes at the
// normal niceness 0 cannot delay its gossip into false failure detection.
const HelperNiceness = -10

// RaisePriority sets the scheduling niceness of every thread of this process
// to nice (negative is more favoured; needs CAP_SYS_NICE). Call it once at
// start-up, before the busy parts start.
//
// Failure detection answers a probe within ProbeInterval (100 ms by
// default). A mostly idle process wakes promptly even on a saturated node,
// but one that is itself busy (answering an ARP storm, say) competes as a
// CPU-bound task, and next to other busy processes its probe answers then
// come late enough for peers to declare it dead. Like VRRP daemons,
// the node helper therefore runs favoured; TestNoFalseFailureUnderCPUHog
// measures the difference.
//
// Linux keeps a niceness per thread, and a new thread inherits its creator's:
// every existing thread is set, twice over, so threads started meanwhile are
// covered too.
func RaisePriority(nice int) error {
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("failed to list threads: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && err != unix.ESRCH {
				return fmt.Errorf("failed to set the niceness of thread %d to %d: %w", tid, nice, err)
			}
		}
	}
	return nil
}
