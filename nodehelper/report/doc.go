// Package report words what the node helper tells users in Events and conditions: why no node announces an address, and why an address outside every layer2 pool is not announced.
package report
