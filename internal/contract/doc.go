// Package contract holds the names and messages barelb's binaries exchange through the API server: Event reasons and sources, the barelb.io/Announced condition, and a Format/Parse pair for every message another binary reads back.
package contract
