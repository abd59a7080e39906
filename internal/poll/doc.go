// Package poll waits for a condition with a deadline: the one wait of the tests, the lab and the demo.
package poll
