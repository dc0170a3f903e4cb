package e2e

// The soak (issue #15, part 2): a Volcano node against kubelet's device
// manager and the real kube-apiserver while a driver keeps faults, card
// drops, driver chaos, kubelet restarts, API-server outages, pods and the
// fault-code ConfigMap changing at random. E2E_SOAK_MINUTES sets the length
// (scripts/soak.sh, default 60 there); without it the scenario is the
// smoke of scripts/e2e.sh: about a minute and a half with every kind of
// event once, in shortened windows. Checked all along: every admitted pod
// got exactly Volcano's chips (run options, pod-resources, write-back), no
// chip or kubelet ID in two live pods, no Unhealthy chip advertised
// Healthy for longer than one period and a margin, no panic, the plugin
// never exits. Sampled: RSS, fds, threads, CPU, API requests by verb.
// The fitted trends after the warm-up are reported; they fail the run only
// when the window is long enough to tell a leak from noise (20 minutes).

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/soak"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// soakProfile is the length and the rhythm of a soak.
type soakProfile struct {
	length time.Duration
	// outage, failWindow, hangWindow: how long kube-apiserver stays down,
	// every driver call fails, every driver call hangs.
	outage, failWindow, hangWindow time.Duration
	// events is the disruptions in the order they happen.
	events []string
}

const (
	evRestart = "kubelet-restart"
	evOutage  = "apiserver-outage"
	evFail    = "chaos-fail"
	evHang    = "chaos-hang"
	evDrop    = "card-drop"
)

// soakMinLeakWindow is the shortest window after the warm-up over which a
// fitted trend can fail the run.
const soakMinLeakWindow = 20 * time.Minute

// Leak limits: the fitted rise after the warm-up that fails a long run.
const (
	leakRSSKiB  = 8 * 1024
	leakFDs     = 8
	leakThreads = 8
)

func newSoakProfile(rng *rand.Rand) soakProfile {
	minutes, _ := strconv.ParseFloat(os.Getenv("E2E_SOAK_MINUTES"), 64)
	if minutes <= 0 {
		// The smoke: one of each, in short windows.
		p := soakProfile{length: 90 * time.Second, outage: 15 * time.Second, failWindow: 5 * time.Second, hangWindow: 8 * time.Second,
			events: []string{evRestart, evFail, evOutage, evDrop, evHang}}
		return p
	}
	p := soakProfile{length: time.Duration(minutes * float64(time.Minute)), outage: 60 * time.Second, failWindow: 10 * time.Second, hangWindow: 30 * time.Second}
	// Per hour: 15 kubelet restarts, 3 outages, 6 failing and 4 hanging
	// windows, 8 card drops; at least one of each.
	add := func(ev string, perHour float64) {
		n := int(perHour*minutes/60 + 0.5)
		if n < 1 {
			n = 1
		}
		for i := 0; i < n; i++ {
			p.events = append(p.events, ev)
		}
	}
	add(evRestart, 15)
	add(evOutage, 3)
	add(evFail, 6)
	add(evHang, 4)
	add(evDrop, 8)
	rng.Shuffle(len(p.events), func(i, j int) { p.events[i], p.events[j] = p.events[j], p.events[i] })
	return p
}

// soakRun is the state the soak's loops share.
type soakRun struct {
	ctx  context.Context
	cp   *testbed.ControlPlane
	n    *testbed.Node
	p    *testbed.Plugin
	sim  string
	rng  *rand.Rand
	prof soakProfile

	mu sync.Mutex
	// health: since when each chip is Unhealthy on the driver.
	health *soak.Health
	// faulted are the chips with a fault raised by the driver; dropped the
	// chip of a dropped card ("" when none).
	faulted map[string]bool
	dropped string
	// apiDown: kube-apiserver is stopped; apiUpSince when it last came up.
	apiDown    bool
	apiUpSince time.Time
	// slowestReregistration is the longest a kubelet restart left the
	// node without healthy devices.
	slowestReregistration time.Duration
	violations            []string
	counts                map[string]int64
	notes                 map[string][]string

	// pause is held (write) while kubelet is down: a dead kubelet admits
	// nothing.
	pause sync.RWMutex
	// ledger is owned by the pod loop.
	ledger *soak.Ledger
}

func (s *soakRun) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if len(s.violations) < 200 {
		s.violations = append(s.violations, time.Now().UTC().Format("15:04:05 ")+msg)
	}
	s.counts["violations"]++
}

// note keeps the first few examples of a kind of event for the report.
func (s *soakRun) note(kind, example string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.notes[kind]) < 5 {
		s.notes[kind] = append(s.notes[kind], time.Now().UTC().Format("15:04:05 ")+example)
	}
}

func (s *soakRun) count(what string, n int64) {
	s.mu.Lock()
	s.counts[what] += n
	s.mu.Unlock()
}

// simCmd runs ascend-sim on the node's state file.
func (s *soakRun) simCmd(args ...string) error {
	return runSim(s.ctx, s.sim, s.p.State, args...)
}

func TestSoakVolcanoNodeUnderChaos(t *testing.T) {
	b := testbed.RequirePlugin(t)
	seed := time.Now().UnixNano()
	if v := os.Getenv("E2E_SOAK_SEED"); v != "" {
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	rng := rand.New(rand.NewSource(seed))
	prof := newSoakProfile(rng)
	t.Logf("REPORT soak: seed %d, length %v, outage %v, failing calls %v, hanging calls %v, disruptions %v",
		seed, prof.length, prof.outage, prof.failWindow, prof.hangWindow, prof.events)
	ctx := scenario(t, prof.length+4*time.Minute)
	cp := testbed.StartControlPlane(t, testbed.ShippedRBAC(t))
	admin := client(t, cp.AdminConfig)
	createNode(ctx, t, admin, testbed.DefaultNodeName, "192.0.2.10", nil)
	createNamespace(ctx, t, admin, jobs)
	n := testbed.StartNode(t)
	p := n.StartPlugin(t, testbed.PluginOptions{
		Topology: "910-8", AscendDockerRuntime: true, Kubeconfig: cp.SAConfig, StateDir: n.Dir + "/state",
		Flags: []string{"-volcanoType=true", fmt.Sprintf("-listWatchPeriod=%d", int(period/time.Second))},
	})
	if _, err := n.WaitResources(ctx, "8 chips", testbed.Allocatable(ascend910, 8)); err != nil {
		t.Fatal(err)
	}
	s := &soakRun{ctx: ctx, cp: cp, n: n, p: p, sim: b.Sim, rng: rng, prof: prof,
		health: soak.NewHealth(), faulted: map[string]bool{}, apiUpSince: time.Now(),
		counts: map[string]int64{}, notes: map[string][]string{}, ledger: soak.NewLedger()}
	s.setFaultConfig(admin, 0)

	start := time.Now()
	end := start.Add(prof.length)
	loopCtx, stop := context.WithDeadline(ctx, end)
	defer stop()
	var wg sync.WaitGroup
	samples := &soakSamples{}
	for _, loop := range []func(context.Context){
		s.faultLoop,
		func(c context.Context) { s.podLoop(c, admin) },
		func(c context.Context) { s.healthLoop(c, admin) },
		func(c context.Context) { s.faultConfigLoop(c, admin) },
		func(c context.Context) { s.sampleLoop(c, t, samples) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(loopCtx)
		}()
	}
	// The disruptions run here: stopping and starting kube-apiserver needs
	// the test's goroutine.
	s.disrupt(t, loopCtx, end)
	<-loopCtx.Done()
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the scenario's deadline passed before the soak ended")
	}
	s.drain(t, admin)
	s.verdict(t, samples, start, end)
}

// runSim runs ascend-sim --state state args...
func runSim(ctx context.Context, sim, state string, args ...string) error {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := execCommand(c, sim, append([]string{"--state", state}, args...)...)
	if err != nil {
		return fmt.Errorf("ascend-sim %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// sleepCtx sleeps d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// jitter is d scaled by a random factor in [0.5, 1.5).
func (s *soakRun) jitter(d time.Duration) time.Duration {
	s.mu.Lock()
	f := 0.5 + s.rng.Float64()
	s.mu.Unlock()
	return time.Duration(float64(d) * f)
}

func (s *soakRun) intn(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Intn(n)
}
