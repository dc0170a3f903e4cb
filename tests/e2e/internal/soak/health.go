package soak

import (
	"fmt"
	"sort"
	"time"
)

// Health knows since when each chip has been Unhealthy on the simulated
// driver (a fault graded Unhealthy, a dropped card) and when the driver's
// chaos windows were, during which the plugin cannot see the driver.
type Health struct {
	since map[string]time.Time
	// recovered is when each chip last recovered.
	recovered map[string]time.Time
	// chaosFrom is when the current chaos window began (zero: none);
	// chaosTo when the last one ended.
	chaosFrom, chaosTo time.Time
}

// NewHealth is a driver with every chip healthy.
func NewHealth() *Health {
	return &Health{since: map[string]time.Time{}, recovered: map[string]time.Time{}}
}

// Unhealthy records that chip turned Unhealthy at at (kept if it already was).
func (h *Health) Unhealthy(chip string, at time.Time) {
	if _, ok := h.since[chip]; !ok {
		h.since[chip] = at
	}
}

// Healthy records that chip recovered at at.
func (h *Health) Healthy(chip string, at time.Time) {
	delete(h.since, chip)
	h.recovered[chip] = at
}

// RecoveredSince reports whether chip recovered after at: the plugin may
// not have seen it yet.
func (h *Health) RecoveredSince(chip string, at time.Time) bool { return h.recovered[chip].After(at) }

// IsUnhealthy reports whether chip is Unhealthy now.
func (h *Health) IsUnhealthy(chip string) bool { _, ok := h.since[chip]; return ok }

// Count is the number of Unhealthy chips.
func (h *Health) Count() int { return len(h.since) }

// ChaosBegins and ChaosEnds bracket a chaos window.
func (h *Health) ChaosBegins(at time.Time) { h.chaosFrom = at }

// InChaos reports whether a chaos window is open.
func (h *Health) InChaos() bool { return !h.chaosFrom.IsZero() }

// LastChaosEnd is when the last chaos window closed (zero: none yet).
func (h *Health) LastChaosEnd() time.Time { return h.chaosTo }

// ChaosEnds closes the chaos window.
func (h *Health) ChaosEnds(at time.Time) { h.chaosFrom, h.chaosTo = time.Time{}, at }

// Overdue is the chips Unhealthy since before at-limit that the plugin
// must no longer advertise Healthy at at: the clock of a chip starts at its
// fault or at the end of the last chaos window, whichever is later, and
// nothing is overdue during a chaos window.
func (h *Health) Overdue(at time.Time, limit time.Duration) []string {
	if !h.chaosFrom.IsZero() {
		return nil
	}
	var out []string
	for chip, since := range h.since {
		start := since
		if h.chaosTo.After(start) {
			start = h.chaosTo
		}
		if at.Sub(start) > limit {
			out = append(out, chip)
		}
	}
	sort.Strings(out)
	return out
}

// CheckAdvertised compares the number of kubelet IDs advertised Healthy
// with the chips overdue both before the read (before) and after it
// (after): each chip is reported by exactly one kubelet ID, so with k
// chips overdue at most total-k IDs may be Healthy.
func CheckAdvertised(healthy, total int, before, after []string) string {
	overdue := intersect(before, after)
	if healthy <= total-len(overdue) {
		return ""
	}
	return fmt.Sprintf("%d kubelet IDs advertised Healthy while chips %v have been Unhealthy for longer than the limit (at most %d may be Healthy)",
		healthy, overdue, total-len(overdue))
}

// CheckFreeList finds chips the device-info ConfigMap lists as free and
// Healthy although they were overdue both before and after the read.
func CheckFreeList(free, before, after []string) []string {
	overdue := intersect(before, after)
	var out []string
	for _, c := range free {
		for _, o := range overdue {
			if c == o {
				out = append(out, c)
			}
		}
	}
	return out
}

func intersect(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if in[x] {
			out = append(out, x)
		}
	}
	return out
}
