package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"ascend-device-plugin/tests/e2e/internal/testbed"
)

const (
	// A RestartNPU code of the built-in table: the plugin resets the chip.
	restartNPUCode = "8C03A000"
	// A SeparateNPU code of the built-in table: an operator's job.
	separateNPUCode = "80E3A201"
)

// simResets is the simulator's count of resets it carried out, per phy id.
func simResets(t *testing.T, p *testbed.Plugin) map[string]int {
	t.Helper()
	var state struct {
		Resets map[string]int `json:"resets"`
	}
	if bytes, err := os.ReadFile(p.State); err == nil {
		_ = json.Unmarshal(bytes, &state)
	}
	return state.Resets
}

// resetInfo is the node's ResetInfo annotation ("" when absent).
func resetInfo(ctx context.Context, t *testing.T, c *kubernetes.Clientset, node string) string {
	t.Helper()
	n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Annotations["ResetInfo"]
}

func waitResetInfo(ctx context.Context, t *testing.T, c *kubernetes.Clientset, node, what string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(healthLimit)
	for {
		v := resetInfo(ctx, t, c, node)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("ResetInfo: %s not within %v; last %q", what, healthLimit, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// With -hotReset=0, a RestartNPU fault on a chip a pod holds leaves the chip
// Unhealthy and unreset while the pod runs; once the pod is deleted the
// plugin resets it with no operator action: for the reset its whole ring
// (logic ids 0..3 on a 910) leaves allocatable and is listed under
// -Recovering, then the chip is allocatable again. A SeparateNPU chip is left
// to an operator in the node's ResetInfo annotation, and leaves it once
// Healthy.
func TestClusterPluginResetsAFaultedChipOnceItsPodIsGone(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, 4*time.Minute)
	cp := testbed.StartControlPlane(t, testbed.ShippedRBAC(t))
	admin := client(t, cp.AdminConfig)
	node := testbed.DefaultNodeName
	createNode(ctx, t, admin, node, "192.0.2.20", nil)
	n := testbed.StartNode(t)
	p := n.StartPlugin(t, testbed.PluginOptions{Topology: "910-8", Kubeconfig: cp.SAConfig,
		Flags: []string{fmt.Sprintf("-listWatchPeriod=%d", int(period/time.Second)), "-hotReset=0", "--reset-idle-delay=0"}})
	if _, err := n.WaitResources(ctx, "8 chips", testbed.Allocatable(ascend910, 8)); err != nil {
		t.Fatal(err)
	}
	p.Sim(t, "reset-inject", "boot-ms", "--ms", "6000")
	job, err := n.DM.Admit(ctx, pod("job", ascend910, 8))
	if err != nil {
		t.Fatal(err)
	}
	all := allChips(8)
	if _, err := waitDeviceInfo(ctx, admin, node, healthLimit, "every chip in use", func(d deviceInfo) bool {
		return len(d.list("")) == 0
	}); err != nil {
		t.Fatal(err)
	}

	p.Sim(t, "fault", "raise", "--phy", "3", "--code", restartNPUCode, "--severity", "3")
	p.Sim(t, "fault", "raise", "--phy", "6", "--code", separateNPUCode, "--severity", "3")
	if _, err := n.WaitResources(ctx, "chips 3 and 6 unhealthy", healthyExactly(ascend910, minus(all, chipName(3), chipName(6)))); err != nil {
		t.Fatal(err)
	}
	info := waitResetInfo(ctx, t, admin, node, "lists the SeparateNPU chip", func(v string) bool {
		return strings.Contains(v, `"PhyID":6`)
	})
	if strings.Contains(info, `"PhyID":3`) {
		t.Errorf("ResetInfo lists the chip the plugin can reset itself: %s", info)
	}
	// Three polling cycles with the pod holding the chip: no reset.
	time.Sleep(3*period + time.Second)
	if r := simResets(t, p); len(r) != 0 {
		t.Fatalf("a chip a pod holds was reset: %v", r)
	}

	if err := n.DM.Terminate(ctx, job.UID); err != nil {
		t.Fatal(err)
	}
	// The ring is fenced for the reset: only 4, 5 and 7 stay allocatable.
	ring := []string{chipName(0), chipName(1), chipName(2), chipName(3)}
	if _, err := n.WaitResources(ctx, "ring 0..3 fenced during the reset", healthyExactly(ascend910, []string{chipName(4), chipName(5), chipName(7)})); err != nil {
		t.Fatal(err)
	}
	if _, err := waitDeviceInfo(ctx, admin, node, healthLimit, "the ring listed as recovering", func(d deviceInfo) bool {
		return equal(d.list("-Recovering"), sortedCopy(ring))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.WaitResources(ctx, "chip 3 allocatable again after the reset", healthyExactly(ascend910, minus(all, chipName(6)))); err != nil {
		t.Fatal(err)
	}
	if r := simResets(t, p); r["3"] != 1 || len(r) != 1 {
		t.Errorf("resets done = %v, want chip 3 once", r)
	}
	if _, err := waitDeviceInfo(ctx, admin, node, healthLimit, "chip 3 free, nothing recovering, 6 unhealthy", func(d deviceInfo) bool {
		return equal(d.list(""), minus(all, chipName(6))) && len(d.list("-Recovering")) == 0 &&
			equal(d.list("-Unhealthy"), []string{chipName(6)})
	}); err != nil {
		t.Fatal(err)
	}
	if v := resetInfo(ctx, t, admin, node); !strings.Contains(v, `"ManualResetDevs":[{"CardId":6,"DeviceId":0,"AssociatedCardId":0,"PhyID":6,"LogicID":6}]`) {
		t.Errorf("ResetInfo = %s, want chip 6 alone in ManualResetDevs", v)
	}

	// An operator fixes chip 6: it leaves ResetInfo.
	p.Sim(t, "fault", "clear", "--phy", "6")
	waitResetInfo(ctx, t, admin, node, "empty once chip 6 is Healthy", func(v string) bool {
		return v != "" && !strings.Contains(v, "PhyID")
	})
}
