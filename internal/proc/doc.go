// Package proc starts a child process of the tests, the lab or the control plane and follows it until it exits.
package proc
