// Package keys follows the gossip-key Secret and hands every new keyring to the membership, so keys rotate without a restart.
package keys
