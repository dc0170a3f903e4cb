package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// kubelet restarts 20 times; each time the plugin is back within 1 s of the
// new kubelet.sock, the pod admitted before keeps its checkpointed devices
// and run options, its devices are still valid (re-admission succeeds with
// the same IDs), and no socket is stale. Some restarts cut an admission in
// flight: either it completed before the cut (and is checkpointed) or it was
// cut and is admitted again once the plugin is back.
func TestPluginSurvivesTwentyKubeletRestartsIncludingOneDuringAllocate(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, 4*time.Minute)
	n := testbed.StartNode(t)
	n.StartPlugin(t, testbed.PluginOptions{Topology: "910-8", AscendDockerRuntime: true})
	const res = "huawei.com/Ascend910"
	if _, err := n.WaitResources(ctx, "8 chips", testbed.Allocatable(res, 8)); err != nil {
		t.Fatal(err)
	}
	kept, err := n.DM.Admit(ctx, pod("kept", res, 2))
	if err != nil {
		t.Fatal(err)
	}
	sockets := []string{"Ascend910.sock", "kubelet.sock"}

	var worst time.Duration
	caught := 0
	for i := 1; i <= 20; i++ {
		// kubelet stays down 0, 50, 200 or 500 ms: at 0 the new kubelet
		// wipes the directory while the plugin reacts to its stream ending.
		down := []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond}[i%4]
		if i%5 != 0 {
			took := restartAndCheck(ctx, t, n, res, 8, kept, sockets, down)
			worst = max(worst, took)
			continue
		}
		// Every fifth restart races an admission of a 6-container pod (12
		// RPCs to the plugin) against the restart.
		inflight := dmapi.Pod{Name: fmt.Sprintf("inflight-%d", i), UID: fmt.Sprintf("uid-inflight-%d", i)}
		for c := 0; c < 6; c++ {
			inflight.Containers = append(inflight.Containers, dmapi.Container{Name: fmt.Sprintf("c%d", c), Limits: map[string]int64{res: 1}})
		}
		done := make(chan struct{})
		var admitted dmapi.Admission
		var admitErr error
		go func() {
			defer close(done)
			admitted, admitErr = n.DM.Admit(ctx, inflight)
		}()
		time.Sleep(time.Duration(i/5) * time.Millisecond)
		rs, err := n.DM.Restart(ctx, dmapi.RestartRequest{})
		if err != nil {
			t.Fatal(err)
		}
		<-done
		waitReregistered(ctx, t, n, res, 8)
		took := time.Since(time.Unix(0, rs.ServingAtUnixNano))
		worst = max(worst, took)
		if took > time.Second {
			t.Errorf("restart %d: plugin re-registered %v after the new kubelet.sock, want <= 1s", i, took)
		}
		switch {
		case admitErr == nil:
			// Completed before the cut: the checkpoint must have it.
			after, err := n.DM.Pod(ctx, inflight.UID)
			if err != nil || fmt.Sprint(after) != fmt.Sprint(admitted) {
				t.Errorf("restart %d: admission completed before the cut but the checkpoint gives %+v (%v), want %+v", i, after, err, admitted)
			}
		case cutByRestart(admitErr) && strings.Contains(admitErr.Error(), dmapi.NotRunningMessage):
			// The admission reached kubelet only once it was down:
			// nothing was in flight. kubelet admits it once it is back.
			if rs.Cancelled != 0 {
				t.Errorf("restart %d cut %d admissions, but the admission arrived after the stop", i, rs.Cancelled)
			}
			a, err := n.DM.Admit(ctx, inflight)
			if err != nil {
				t.Fatalf("restart %d: admitting the pod that arrived while kubelet was down: %v", i, err)
			}
			admitted = a
		case cutByRestart(admitErr):
			caught++
			if rs.Cancelled != 1 {
				t.Errorf("restart %d cut %d admissions, want 1", i, rs.Cancelled)
			}
			a, err := n.DM.Admit(ctx, inflight)
			if err != nil {
				t.Fatalf("restart %d: re-admitting the cut-off pod: %v", i, err)
			}
			admitted = a
		default:
			t.Fatalf("restart %d: admission in flight failed: %v", i, admitErr)
		}
		for _, c := range admitted.Containers {
			for _, id := range c.Devices[res] {
				if slices.Contains(kept.Containers[0].Devices[res], id) {
					t.Errorf("restart %d: %s given to the in-flight pod and to the kept pod", i, id)
				}
			}
		}
		if err := n.DM.Terminate(ctx, inflight.UID); err != nil {
			t.Fatal(err)
		}
		restartAndCheck(ctx, t, n, res, 8, kept, sockets, down)
	}
	t.Logf("worst re-registration after a restart: %v; admissions caught in flight: %d of 4", worst.Round(time.Millisecond), caught)
	if caught == 0 {
		t.Errorf("no restart caught an admission in flight; the race needs retuning")
	}
}
