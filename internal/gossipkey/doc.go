// Package gossipkey turns the gossip-key Secret into the memberlist keyring: the first key encrypts, every key decrypts.
package gossipkey
