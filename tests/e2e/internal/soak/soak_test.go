package soak

import (
	"strings"
	"testing"
	"time"
)

func points(start time.Time, every time.Duration, values ...float64) []Point {
	out := make([]Point, len(values))
	for i, v := range values {
		out[i] = Point{At: start.Add(time.Duration(i) * every), Value: v}
	}
	return out
}

func TestFitFindsTheSlopePerHourAfterTheWarmUp(t *testing.T) {
	start := time.Unix(0, 0)
	// A burst during the warm-up, then +1 every 6 minutes = +10/h.
	pts := points(start, 6*time.Minute, 500, 100, 10, 11, 12, 13, 14, 15)
	tr, err := Fit("fds", pts, start.Add(12*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Points != 6 || tr.Window != 30*time.Minute {
		t.Errorf("points %d window %v, want 6 and 30m", tr.Points, tr.Window)
	}
	if d := tr.PerHour - 10; d > 1e-9 || d < -1e-9 {
		t.Errorf("slope %v/h, want 10/h", tr.PerHour)
	}
	if !tr.Upward(4) || tr.Upward(6) {
		t.Errorf("growth %v: want upward beyond 4, not beyond 6", tr.Growth)
	}
}

func TestFitOfAFlatNoisySeriesIsNotUpward(t *testing.T) {
	start := time.Unix(0, 0)
	tr, err := Fit("threads", points(start, time.Minute, 14, 17, 14, 15, 14, 17, 14, 15, 14), start)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Upward(2) {
		t.Errorf("a flat series fitted upward: %s", tr)
	}
}

func TestFitNeedsTwoSamplesAfterTheWarmUp(t *testing.T) {
	start := time.Unix(0, 0)
	_, err := Fit("rss", points(start, time.Minute, 1, 2, 3), start.Add(2*time.Minute))
	if err == nil || !strings.Contains(err.Error(), "rss") {
		t.Errorf("err = %v, want one naming rss", err)
	}
}

func TestParseStatusAndStatReadTheKernelsFields(t *testing.T) {
	rss, threads, err := parseStatus([]byte("Name:\tascend-device-p\nVmRSS:\t   38512 kB\nThreads:\t14\n"))
	if err != nil || rss != 38512 || threads != 14 {
		t.Errorf("parseStatus = %d %d %v, want 38512 14", rss, threads, err)
	}
	if _, _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Error("a status without VmRSS parsed")
	}
	// The name may hold spaces and parentheses; utime 150 + stime 50 ticks.
	cpu, err := parseStatCPU([]byte("42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 14 0"))
	if err != nil || cpu != 2*time.Second {
		t.Errorf("parseStatCPU = %v %v, want 2s", cpu, err)
	}
}

func TestAuditCounterCountsOneUsersVerbsAcrossCutLines(t *testing.T) {
	a := NewAuditCounter("", "sa")
	line := func(user, verb string, code int) string {
		return `{"verb":"` + verb + `","user":{"username":"` + user + `"},"responseStatus":{"code":` + itoa(int64(code)) + "}}\n"
	}
	all := line("sa", "get", 200) + line("admin", "get", 200) + line("sa", "patch", 200) + line("sa", "patch", 403)
	a.Feed([]byte(all[:30]))
	a.Feed([]byte(all[30:]))
	if got := Verbs(a.ByVerb); got != "get=1 patch=2" {
		t.Errorf("verbs %q, want get=1 patch=2", got)
	}
	if a.ByCode[403] != 1 || a.ByCode[200] != 2 {
		t.Errorf("codes %v", a.ByCode)
	}
}

func TestLedgerFindsWrongChipsAndDoubleAllocations(t *testing.T) {
	l := NewLedger()
	ok := Allocation{Pod: "ns/a", Chips: []string{"c1", "c2"}, Visible: []string{"c2", "c1"}, KubeletIDs: []string{"k1", "k2"}}
	if v := l.Admit(ok); len(v) != 0 {
		t.Errorf("a correct admission: %v", v)
	}
	v := l.Admit(Allocation{Pod: "ns/b", Chips: []string{"c3"}, Visible: []string{"c2"}, KubeletIDs: []string{"k2"}})
	joined := strings.Join(v, "\n")
	for _, want := range []string{"Volcano wrote chips [c3]", "chip c2 in two live pods", "kubelet ID k2 in two live pods"} {
		if !strings.Contains(joined, want) {
			t.Errorf("violations %q lack %q", joined, want)
		}
	}
}

func TestLedgerComparesWithPodResources(t *testing.T) {
	l := NewLedger()
	l.Admit(Allocation{Pod: "ns/a", Chips: []string{"c1"}, Visible: []string{"c1"}, KubeletIDs: []string{"k1"}})
	l.Admit(Allocation{Pod: "ns/b", Chips: []string{"c2"}, Visible: []string{"c2"}, KubeletIDs: []string{"k2"}})
	if v := l.Compare(map[string][]string{"ns/a": {"k1"}, "ns/b": {"k2"}, "ns/idle": nil}); len(v) != 0 {
		t.Errorf("a matching listing: %v", v)
	}
	v := strings.Join(l.Compare(map[string][]string{"ns/a": {"k3"}, "ns/gone": {"k3"}}), "\n")
	for _, want := range []string{"ns/a: pod-resources lists [k3]", "ns/b admitted with [k2] is missing", "ns/gone with [k3], a pod that has ended", "k3 in two pods"} {
		if !strings.Contains(v, want) {
			t.Errorf("violations %q lack %q", v, want)
		}
	}
	l.Remove("ns/b")
	if l.Len() != 1 {
		t.Errorf("%d live pods after a removal, want 1", l.Len())
	}
}

func TestHealthOverdueStartsAfterTheFaultOrTheLastChaosWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := NewHealth()
	h.Unhealthy("c1", t0)
	h.Unhealthy("c1", t0.Add(time.Hour)) // still the same episode
	if got := h.Overdue(t0.Add(4*time.Second), 5*time.Second); len(got) != 0 {
		t.Errorf("overdue %v before the limit", got)
	}
	if got := h.Overdue(t0.Add(6*time.Second), 5*time.Second); len(got) != 1 {
		t.Errorf("overdue %v after the limit, want [c1]", got)
	}
	h.ChaosBegins(t0.Add(7 * time.Second))
	if got := h.Overdue(t0.Add(8*time.Second), 5*time.Second); got != nil {
		t.Errorf("overdue %v during a chaos window", got)
	}
	h.ChaosEnds(t0.Add(10 * time.Second))
	if got := h.Overdue(t0.Add(14*time.Second), 5*time.Second); len(got) != 0 {
		t.Errorf("overdue %v within the limit after the chaos window", got)
	}
	if got := h.Overdue(t0.Add(16*time.Second), 5*time.Second); len(got) != 1 {
		t.Errorf("overdue %v after the limit past the chaos window", got)
	}
	h.Healthy("c1", t0.Add(20*time.Second))
	if h.Count() != 0 || h.IsUnhealthy("c1") {
		t.Error("c1 still Unhealthy after it recovered")
	}
	if !h.RecoveredSince("c1", t0.Add(19*time.Second)) || h.RecoveredSince("c1", t0.Add(20*time.Second)) {
		t.Error("RecoveredSince does not follow the recovery time")
	}
}

func TestAdvertisedHealthMayNotExceedTheChipsLeft(t *testing.T) {
	if msg := CheckAdvertised(7, 8, []string{"c1"}, []string{"c1"}); msg != "" {
		t.Errorf("7 healthy with one chip down: %s", msg)
	}
	if msg := CheckAdvertised(8, 8, []string{"c1"}, []string{"c1"}); !strings.Contains(msg, "c1") {
		t.Errorf("8 healthy with c1 down: %q, want a violation naming c1", msg)
	}
	// c1 recovered during the read: not held against the plugin.
	if msg := CheckAdvertised(8, 8, []string{"c1"}, nil); msg != "" {
		t.Errorf("c1 recovered during the read: %s", msg)
	}
	if got := CheckFreeList([]string{"c0", "c1"}, []string{"c1", "c2"}, []string{"c1"}); len(got) != 1 || got[0] != "c1" {
		t.Errorf("CheckFreeList = %v, want [c1]", got)
	}
}
