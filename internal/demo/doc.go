// Package demo is make demo: it brings up a lab cluster, exposes a LoadBalancer Service through barelb, shows it answering and failing over, and waits.
package demo
