// Package lab builds and tears down a layer-2 test network of Linux network namespaces: a switch, N nodes and a client.
package lab
