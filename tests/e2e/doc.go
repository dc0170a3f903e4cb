// Package e2e holds the end-to-end scenarios: the Rust plugin (and, to prove
// the harness, a fake Go plugin) against kubelet's own device manager and a
// real kube-apiserver. See README.md.
package e2e
