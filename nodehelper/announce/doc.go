// Package announce makes owned service addresses reachable on a layer-2 link by answering ARP (IPv4) and NDP (IPv6) and sending gratuitous announcements.
package announce
