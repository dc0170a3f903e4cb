package e2e

// The soak's checkers and sampler: health as the device manager and the
// device-info ConfigMap advertise it, the plugin's process (RSS, fds,
// threads, CPU, still running, no panic), its API requests by verb, and
// the verdict with the fitted trends.

import (
	"context"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"ascend-device-plugin/tests/e2e/internal/soak"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// soakHealthLimit is how long a chip may stay advertised Healthy after it
// turned Unhealthy on the driver: one period, plus the time a check takes
// to see it (a read every 250 ms, the device manager's own update).
const soakHealthLimit = period + 2*time.Second

// pluginUser is the plugin's ServiceAccount as the audit log names it.
const pluginUser = "system:serviceaccount:kube-system:ascend-device-plugin"

func (s *soakRun) healthLoop(ctx context.Context, admin *kubernetes.Clientset) {
	lastCM := time.Time{}
	for sleepCtx(ctx, 250*time.Millisecond) {
		before := s.overdue(time.Now(), soakHealthLimit)
		r, err := s.n.DM.Resources(ctx)
		if err != nil {
			continue
		}
		after := s.overdue(time.Now(), soakHealthLimit)
		healthy := len(r.Resources[ascend910].Healthy)
		if msg := soak.CheckAdvertised(healthy, soakChips, before, after); msg != "" {
			s.violate("device manager: %s", msg)
		}
		s.count("device-manager health checks", 1)
		if time.Since(lastCM) < 2*time.Second {
			continue
		}
		lastCM = time.Now()
		s.checkDeviceInfo(ctx, admin)
	}
}

// overdue is the chips Unhealthy for longer than limit at at.
func (s *soakRun) overdue(at time.Time, limit time.Duration) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health.Overdue(at, limit)
}

// checkDeviceInfo: the device-info ConfigMap lists no overdue chip as
// free, judged at the time it was written (UpdateTime), and, once the API
// server has been up for 30 s, none overdue by 30 s more now.
func (s *soakRun) checkDeviceInfo(ctx context.Context, admin *kubernetes.Clientset) {
	s.mu.Lock()
	up := !s.apiDown && time.Since(s.apiUpSince) > 30*time.Second
	s.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	written := func(d deviceInfo) time.Time {
		return time.Unix(d.cfg.DeviceInfo.UpdateTime, 0).Add(-time.Second)
	}
	d, problems, err := readDeviceInfo(cctx, admin, testbed.DefaultNodeName)
	if err != nil {
		return
	}
	if len(problems) > 0 {
		s.violate("device-info ConfigMap: %v", problems)
		return
	}
	at := written(d)
	beforeAt, beforeNow := s.overdue(at, soakHealthLimit), s.overdue(time.Now(), soakHealthLimit+30*time.Second)
	afterAt, afterNow := s.overdue(at, soakHealthLimit), s.overdue(time.Now(), soakHealthLimit+30*time.Second)
	if bad := soak.CheckFreeList(d.list(""), beforeAt, afterAt); len(bad) > 0 {
		s.violate("device-info ConfigMap written at %d lists Unhealthy chips %v as free", d.cfg.DeviceInfo.UpdateTime, bad)
	}
	if up {
		if bad := soak.CheckFreeList(d.list(""), beforeNow, afterNow); len(bad) > 0 {
			s.violate("device-info ConfigMap (written at %d) still lists chips %v as free, Unhealthy for over %v", d.cfg.DeviceInfo.UpdateTime, bad, soakHealthLimit+30*time.Second)
		}
	}
	s.count("device-info ConfigMap checks", 1)
}

// soakSamples is what the sampler recorded.
type soakSamples struct {
	mu                   sync.Mutex
	rss, fds, threads    []soak.Point
	first, last          soak.ProcSample
	audit                *soak.AuditCounter
	pluginOut, pluginLog int64
	panicked, exited     bool
}

// sampleLoop samples the plugin every 5 s (2 s in the smoke) and logs a
// line per sample.
func (s *soakRun) sampleLoop(ctx context.Context, t *testing.T, out *soakSamples) {
	every := 5 * time.Second
	if s.prof.length < 10*time.Minute {
		every = 2 * time.Second
	}
	out.audit = soak.NewAuditCounter(s.cp.AuditLog, pluginUser)
	prevVerbs := map[string]int64{}
	var prev soak.ProcSample
	start := time.Now()
	for {
		ps, err := soak.SampleProc(s.p.Proc.Pid())
		if exited, perr := s.p.Proc.Exited(); exited {
			if !out.exited {
				s.violate("the plugin exited: %v", perr)
			}
			out.exited = true
		} else if err != nil {
			s.violate("sampling the plugin: %v", err)
		}
		s.checkPanics(out)
		_ = out.audit.Read()
		if err == nil {
			out.mu.Lock()
			if out.first.At.IsZero() {
				out.first = ps
			}
			out.last = ps
			out.rss = append(out.rss, soak.Point{At: ps.At, Value: float64(ps.RSSKiB)})
			out.fds = append(out.fds, soak.Point{At: ps.At, Value: float64(ps.FDs)})
			out.threads = append(out.threads, soak.Point{At: ps.At, Value: float64(ps.Threads)})
			out.mu.Unlock()
			cpu := 0.0
			if !prev.At.IsZero() {
				cpu = 100 * float64(ps.CPU-prev.CPU) / float64(ps.At.Sub(prev.At))
			}
			prev = ps
			delta := map[string]int64{}
			for v, c := range out.audit.ByVerb {
				if c != prevVerbs[v] {
					delta[v] = c - prevVerbs[v]
				}
				prevVerbs[v] = c
			}
			s.mu.Lock()
			live, unhealthy, violations := s.ledger.Len(), s.health.Count(), s.counts["violations"]
			s.mu.Unlock()
			t.Logf("SAMPLE t=%4ds rss=%6.1fMiB fds=%3d threads=%2d cpu=%5.1f%% api[%s] live=%d unhealthy=%d violations=%d",
				int(time.Since(start).Seconds()), float64(ps.RSSKiB)/1024, ps.FDs, ps.Threads, cpu, soak.Verbs(delta), live, unhealthy, violations)
		}
		if !sleepCtx(ctx, every) {
			return
		}
	}
}

// checkPanics reads what the plugin wrote since the last call (its stderr
// and its -logFile) and records a violation for a panic.
func (s *soakRun) checkPanics(out *soakSamples) {
	for _, f := range []struct {
		path   string
		offset *int64
	}{{s.p.Proc.Log, &out.pluginOut}, {s.p.LogFile, &out.pluginLog}} {
		data, next := readFrom(f.path, *f.offset)
		*f.offset = next
		if !out.panicked && strings.Contains(string(data), "panicked") {
			out.panicked = true
			i := strings.Index(string(data), "panicked")
			s.violate("the plugin panicked (%s): %s", f.path, strings.SplitN(string(data[i:]), "\n", 2)[0])
		}
	}
}

// readFrom reads path from offset on (a shorter file, as after a log
// rotation, is read from the start).
func readFrom(path string, offset int64) ([]byte, int64) {
	f, err := os.Open(path)
	if err != nil {
		return nil, offset
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() < offset {
		offset = 0
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, offset
	}
	data, _ := io.ReadAll(f)
	return data, offset + int64(len(data))
}

// verdict reports the trends and counts and fails on any violation, and on
// an upward trend when the run was long enough to show one.
func (s *soakRun) verdict(t *testing.T, samples *soakSamples, start, end time.Time) {
	warm := start.Add(s.prof.length / 6)
	samples.mu.Lock()
	defer samples.mu.Unlock()
	limits := map[string]float64{"rss_kib": leakRSSKiB, "fds": leakFDs, "threads": leakThreads}
	for _, x := range []struct {
		name   string
		points []soak.Point
	}{{"rss_kib", samples.rss}, {"fds", samples.fds}, {"threads", samples.threads}} {
		tr, err := soak.Fit(x.name, x.points, warm)
		if err != nil {
			t.Errorf("soak: %v", err)
			continue
		}
		t.Logf("REPORT soak trend %s (leak limit %+.0f over the window)", tr, limits[x.name])
		if tr.Window >= soakMinLeakWindow && tr.Upward(limits[x.name]) {
			t.Errorf("soak: upward trend after the warm-up: %s", tr)
		}
	}
	if cpu := samples.last.CPU - samples.first.CPU; samples.last.At.After(samples.first.At) {
		t.Logf("REPORT soak CPU: %v over %v (%.2f%% of a core); RSS %.1f -> %.1f MiB, fds %d -> %d, threads %d -> %d",
			cpu, samples.last.At.Sub(samples.first.At).Round(time.Second),
			100*float64(cpu)/float64(samples.last.At.Sub(samples.first.At)),
			float64(samples.first.RSSKiB)/1024, float64(samples.last.RSSKiB)/1024,
			samples.first.FDs, samples.last.FDs, samples.first.Threads, samples.last.Threads)
	}
	if samples.audit != nil {
		_ = samples.audit.Read()
		codes := map[string]int64{}
		for c, n := range samples.audit.ByCode {
			codes[strconv.Itoa(c)] = n
		}
		t.Logf("REPORT soak API requests of the plugin by verb: %s; by status: %s", soak.Verbs(samples.audit.ByVerb), soak.Verbs(codes))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("REPORT soak count %s: %d", k, s.counts[k])
	}
	t.Logf("REPORT soak slowest re-registration after a kubelet restart: %v", s.slowestReregistration.Round(time.Millisecond))
	kinds := make([]string, 0, len(s.notes))
	for k := range s.notes {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		for _, ex := range s.notes[k] {
			t.Logf("REPORT soak example %s: %s", k, ex)
		}
	}
	if s.counts["pods admitted"] == 0 || s.counts["pod-resources comparisons"] == 0 || s.counts["device-manager health checks"] == 0 {
		t.Errorf("soak: checked nothing (admitted %d, pod-resources comparisons %d, health checks %d)",
			s.counts["pods admitted"], s.counts["pod-resources comparisons"], s.counts["device-manager health checks"])
	}
	for _, v := range s.violations {
		t.Errorf("soak violation: %s", v)
	}
	t.Logf("REPORT soak verdict: %d violations in %v", s.counts["violations"], end.Sub(start).Round(time.Second))
}
