// Package ifaces decides on which network interfaces a node answers ARP and NDP for a service address, and watches the interfaces through netlink.
package ifaces
