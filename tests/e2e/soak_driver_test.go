package e2e

// The soak's driver: the disruptions (kubelet restarts, API-server
// outages, driver chaos windows, card drops) one after another in the
// test's goroutine, faults raised and cleared about once a second, and
// the fault-code ConfigMap replaced.

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
)

// soakChips is the node's chip count (910-8: card N holds chip N).
const soakChips = 8

// maxFaulted bounds the chips faulted at once, so pods still find chips.
const maxFaulted = 3

func execCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// disrupt runs the profile's disruptions spread over the run, with random
// gaps, until end.
func (s *soakRun) disrupt(t *testing.T, ctx context.Context, end time.Time) {
	busy := time.Duration(0)
	for _, ev := range s.prof.events {
		busy += s.window(ev)
	}
	gap := (time.Until(end) - busy) / time.Duration(len(s.prof.events)+1)
	if gap < time.Second {
		gap = time.Second
	}
	for _, ev := range s.prof.events {
		if !sleepCtx(ctx, s.jitter(gap)) {
			return
		}
		if time.Until(end) < s.window(ev) {
			t.Logf("soak: no time left for %s", ev)
			continue
		}
		t.Logf("soak: %s", ev)
		s.count(ev, 1)
		switch ev {
		case evRestart:
			s.restartKubelet(t, ctx)
		case evOutage:
			s.outage(t, ctx)
		case evFail:
			s.chaosWindow(ctx, "fail", s.prof.failWindow)
		case evHang:
			s.chaosWindow(ctx, "hang", s.prof.hangWindow)
		case evDrop:
			s.cardDrop(ctx)
		}
	}
}

// window is about how long an event keeps its disruption on.
func (s *soakRun) window(ev string) time.Duration {
	switch ev {
	case evOutage:
		return s.prof.outage + 10*time.Second
	case evFail:
		return s.prof.failWindow
	case evHang:
		return s.prof.hangWindow
	case evDrop:
		return 20 * time.Second
	}
	return 5 * time.Second
}

// restartKubelet restarts the device manager (down 0-1.5 s) while no
// admission runs, as a dead kubelet admits nothing.
func (s *soakRun) restartKubelet(t *testing.T, ctx context.Context) {
	s.pause.Lock()
	defer s.pause.Unlock()
	down := s.intn(1500)
	if _, err := s.n.DM.Restart(ctx, dmapi.RestartRequest{DownMillis: down}); err != nil {
		s.violate("kubelet restart (down %d ms) failed: %v", down, err)
		return
	}
	// Kubelet's device manager marks the checkpointed devices Unhealthy
	// until the plugin registers again and lists them: a pod admitted
	// before that is refused whatever the plugin does. The driver waits
	// for the plugin (10 s at most) and measures how long it took.
	back := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.n.WaitResources(wctx, "re-registration", func(r dmapi.Resources) bool {
		return len(r.Resources[ascend910].Healthy) > 0
	}); err != nil {
		if ctx.Err() == nil {
			s.violate("the plugin did not register again within 10 s of a kubelet restart: %v", err)
		}
		return
	}
	took := time.Since(back)
	s.mu.Lock()
	if took > s.slowestReregistration {
		s.slowestReregistration = took
	}
	s.mu.Unlock()
	t.Logf("soak: kubelet restarted (down %d ms), healthy devices again %v after", down, took.Round(time.Millisecond))
}

// outage stops kube-apiserver (etcd keeps running) and starts it again.
func (s *soakRun) outage(t *testing.T, ctx context.Context) {
	s.mu.Lock()
	s.apiDown = true
	s.mu.Unlock()
	s.cp.StopAPIServer(t)
	sleepCtx(ctx, s.prof.outage)
	s.cp.StartAPIServer(t)
	s.mu.Lock()
	s.apiDown, s.apiUpSince = false, time.Now()
	s.mu.Unlock()
}

// chaosWindow turns a driver chaos mode on for d.
func (s *soakRun) chaosWindow(ctx context.Context, mode string, d time.Duration) {
	s.mu.Lock()
	s.health.ChaosBegins(time.Now())
	s.mu.Unlock()
	if err := s.simCmd("chaos", "set", mode); err != nil {
		s.violate("%v", err)
	}
	sleepCtx(ctx, d)
	// Cleared even when the run ends, so the drain sees a sane driver.
	if err := runSim(context.Background(), s.sim, s.p.State, "chaos", "clear"); err != nil {
		s.violate("%v", err)
	}
	s.mu.Lock()
	s.health.ChaosEnds(time.Now())
	s.mu.Unlock()
}

// cardDrop drops the card of a chip without a fault for 5-20 s.
func (s *soakRun) cardDrop(ctx context.Context) {
	s.mu.Lock()
	var candidates []int
	for i := 0; i < soakChips; i++ {
		if !s.faulted[chipName(i)] {
			candidates = append(candidates, i)
		}
	}
	if len(candidates) == 0 {
		s.mu.Unlock()
		return
	}
	card := candidates[s.rng.Intn(len(candidates))]
	chip := chipName(card)
	s.dropped = chip
	s.mu.Unlock()
	if err := s.simCmd("card", "drop", "--card", strconv.Itoa(card)); err != nil {
		s.violate("%v", err)
	}
	s.mu.Lock()
	s.health.Unhealthy(chip, time.Now())
	s.mu.Unlock()
	sleepCtx(ctx, 5*time.Second+time.Duration(s.intn(15000))*time.Millisecond)
	s.mu.Lock()
	s.health.Healthy(chip, time.Now())
	s.mu.Unlock()
	if err := runSim(context.Background(), s.sim, s.p.State, "card", "restore", "--card", strconv.Itoa(card)); err != nil {
		s.violate("%v", err)
	}
	s.mu.Lock()
	s.dropped = ""
	s.mu.Unlock()
}

// faultLoop raises or clears a fault on a random chip about once a second
// (not during a chaos window, not on a dropped card), at most maxFaulted
// at once.
func (s *soakRun) faultLoop(ctx context.Context) {
	for sleepCtx(ctx, s.jitter(time.Second)) {
		s.mu.Lock()
		inChaos := s.health.InChaos()
		chip := chipName(s.rng.Intn(soakChips))
		if inChaos || chip == s.dropped {
			s.mu.Unlock()
			continue
		}
		phy := lastField(chip)
		if s.faulted[chip] {
			// Healthy before the clear: the check never expects more of
			// the plugin than the driver shows.
			s.health.Healthy(chip, time.Now())
			delete(s.faulted, chip)
			s.mu.Unlock()
			if err := s.simCmd("fault", "clear", "--phy", phy); err != nil {
				s.violate("%v", err)
			}
			s.count("faults cleared", 1)
			continue
		}
		if len(s.faulted) >= maxFaulted {
			s.mu.Unlock()
			continue
		}
		s.faulted[chip] = true
		s.mu.Unlock()
		if err := s.simCmd("fault", "raise", "--phy", phy, "--code", faultCode, "--severity", "2"); err != nil {
			s.violate("%v", err)
		}
		s.mu.Lock()
		s.health.Unhealthy(chip, time.Now())
		s.mu.Unlock()
		s.count("faults raised", 1)
	}
}

// soakFaultTables are the fault-code ConfigMaps the operator writes in
// turn: faultCode always graded so a chip with it is Unhealthy, another
// code moved around, and a malformed table (the last good one stays).
var soakFaultTables = []string{
	faultTable("RestartNPUCodes", faultCode),
	faultTable("SeparateNPUCodes", faultCode),
	`{"RestartNPUCodes": ["` + faultCode + `"], "NotHandleFaultCodes": ["80C98009"]}`,
	`{"NotHandleFaultCodes": [`,
	`{"SeparateNPUCodes": ["` + faultCode + `", "80CB8009"], "SubHealthFaultCodes": ["80C98009"]}`,
}

// faultConfigLoop replaces the fault-code ConfigMap every 10-30 s.
func (s *soakRun) faultConfigLoop(ctx context.Context, admin *kubernetes.Clientset) {
	i := 1
	for sleepCtx(ctx, 10*time.Second+time.Duration(s.intn(20000))*time.Millisecond) {
		if s.setFaultConfig(admin, i%len(soakFaultTables)) {
			i++
			s.count("fault-code ConfigMaps written", 1)
		}
	}
}

// setFaultConfig writes soakFaultTables[i] as the operator's fault-code
// ConfigMap; false when the API server did not take it.
func (s *soakRun) setFaultConfig(admin *kubernetes.Clientset, i int) bool {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	cms := admin.CoreV1().ConfigMaps("kube-system")
	data := map[string]string{"faultCode.json": soakFaultTables[i]}
	cm, err := cms.Get(ctx, faultConfig, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: faultConfig, Namespace: "kube-system"}, Data: data}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	case err == nil:
		cm.Data = data
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	return err == nil
}
