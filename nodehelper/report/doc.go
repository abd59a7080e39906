// Package report decides and words what the node helper tells users in Events and conditions: which Service is told what, once, by which member, given the election's verdicts and the addresses not announced.
package report
