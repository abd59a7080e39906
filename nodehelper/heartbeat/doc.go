// Package heartbeat is a fast failure detector beside the gossip: a node
// exchanges small authenticated heartbeats with the owners of the addresses
// it would take over, and suspects one whose heartbeats stop arriving.
package heartbeat
