// Package soak holds the pure parts of the soak scenario (soak_test.go):
// the fitted trend of a resource over time, the samples read from /proc,
// the API requests counted from the audit log, the allocation ledger that
// finds lost and double allocations, and the health tracker that knows
// since when each chip is Unhealthy. Unit-tested without root.
package soak
