package soak

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Allocation is one admitted pod: what Volcano wrote on it and what
// kubelet's device manager answered.
type Allocation struct {
	// Pod is namespace/name.
	Pod string
	UID string
	// Chips are Volcano's chips (Ascend910-N); Visible the chips the run
	// options expose (ASCEND_VISIBLE_DEVICES as Ascend910-N).
	Chips, Visible []string
	// KubeletIDs are the device IDs kubelet allocated.
	KubeletIDs []string
}

// Ledger is the set of live pods as the driver knows them.
type Ledger struct {
	live map[string]Allocation
}

// NewLedger is an empty ledger.
func NewLedger() *Ledger { return &Ledger{live: map[string]Allocation{}} }

// Admit records an admitted pod and answers every violation it brings:
// run options exposing other chips than Volcano's, a chip or kubelet ID
// already held by another live pod. The pod is recorded either way.
func (l *Ledger) Admit(a Allocation) []string {
	var out []string
	if !sameSet(a.Chips, a.Visible) {
		out = append(out, fmt.Sprintf("pod %s: Volcano wrote chips %v, kubelet's run options expose %v", a.Pod, sorted(a.Chips), sorted(a.Visible)))
	}
	for _, other := range l.Live() {
		for _, c := range a.Visible {
			if slices.Contains(other.Visible, c) {
				out = append(out, fmt.Sprintf("chip %s in two live pods: %s and %s", c, other.Pod, a.Pod))
			}
		}
		for _, id := range a.KubeletIDs {
			if slices.Contains(other.KubeletIDs, id) {
				out = append(out, fmt.Sprintf("kubelet ID %s in two live pods: %s and %s", id, other.Pod, a.Pod))
			}
		}
	}
	l.live[a.Pod] = a
	return out
}

// Remove forgets a pod that ended.
func (l *Ledger) Remove(pod string) { delete(l.live, pod) }

// Live is the live pods, by name.
func (l *Ledger) Live() []Allocation {
	out := make([]Allocation, 0, len(l.live))
	for _, a := range l.live {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out
}

// Len is the number of live pods.
func (l *Ledger) Len() int { return len(l.live) }

// Compare checks what pod-resources lists (namespace/name -> device IDs of
// the resource) against the live pods: every live pod listed with exactly
// its kubelet IDs (a lost allocation otherwise), no listed ID held by two
// pods, no pod listed with devices the ledger does not know of.
func (l *Ledger) Compare(listed map[string][]string) []string {
	var out []string
	for _, a := range l.Live() {
		ids, ok := listed[a.Pod]
		if !ok {
			out = append(out, fmt.Sprintf("pod %s admitted with %v is missing from pod-resources", a.Pod, sorted(a.KubeletIDs)))
			continue
		}
		if !sameSet(ids, a.KubeletIDs) {
			out = append(out, fmt.Sprintf("pod %s: pod-resources lists %v, kubelet allocated %v", a.Pod, sorted(ids), sorted(a.KubeletIDs)))
		}
	}
	holder := map[string]string{}
	pods := make([]string, 0, len(listed))
	for p := range listed {
		pods = append(pods, p)
	}
	sort.Strings(pods)
	for _, p := range pods {
		if _, ok := l.live[p]; !ok && len(listed[p]) > 0 {
			out = append(out, fmt.Sprintf("pod-resources lists %s with %v, a pod that has ended or was never admitted", p, sorted(listed[p])))
		}
		for _, id := range listed[p] {
			if q, ok := holder[id]; ok {
				out = append(out, fmt.Sprintf("pod-resources lists kubelet ID %s in two pods: %s and %s", id, q, p))
			}
			holder[id] = p
		}
	}
	return out
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func sameSet(a, b []string) bool { return slices.Equal(sorted(a), sorted(b)) }
