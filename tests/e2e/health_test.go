package e2e

import (
	"slices"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// without reports whether resource has n allocatable devices, none of them id.
func without(resource string, n int64, id string) func(dmapi.Resources) bool {
	return func(r dmapi.Resources) bool {
		return testbed.Allocatable(resource, n)(r) && !slices.Contains(healthyIDs(r, resource), id)
	}
}

// A fault injected in the simulator reaches the device manager's allocatable
// count; clearing it brings the chip back; so does a card that drops off the
// bus and returns. Capacity keeps counting the unhealthy chip.
func TestPluginHealthMovesAllocatableAtTheDeviceManager(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, 3*time.Minute)
	n := testbed.StartNode(t)
	p := n.StartPlugin(t, testbed.PluginOptions{Topology: "910-8", Flags: []string{"-listWatchPeriod=3"}})
	const res = "huawei.com/Ascend910"
	if _, err := n.WaitResources(ctx, "8 chips", testbed.Allocatable(res, 8)); err != nil {
		t.Fatal(err)
	}
	// The worst case is one poll period plus the stream update.
	within := func(what string, ok func(dmapi.Resources) bool) dmapi.Resources {
		t.Helper()
		start := time.Now()
		r, err := n.WaitResources(ctx, what, ok)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
		return r
	}

	p.Sim(t, "fault", "raise", "--phy", "3", "--code", "80E01801", "--severity", "2")
	r := within("Ascend910-3 unhealthy after a fault", without(res, 7, "Ascend910-3"))
	if c := r.Resources[res].Capacity; c != 8 {
		t.Errorf("capacity = %d with one faulty chip, want 8", c)
	}
	// An unhealthy chip is not handed to a new pod.
	a, err := n.DM.Admit(ctx, pod("seven", res, 7))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(a.Containers[0].Devices[res], "Ascend910-3") {
		t.Errorf("the faulty chip was allocated: %v", a.Containers[0].Devices[res])
	}
	if err := n.DM.Terminate(ctx, a.UID); err != nil {
		t.Fatal(err)
	}

	p.Sim(t, "fault", "clear", "--phy", "3")
	within("Ascend910-3 healthy after the fault cleared", testbed.Allocatable(res, 8))

	// On 910-8 card 2 carries chip phy 2.
	p.Sim(t, "card", "drop", "--card", "2")
	r = within("Ascend910-2 unhealthy after its card dropped", without(res, 7, "Ascend910-2"))
	if c := r.Resources[res].Capacity; c != 8 {
		t.Errorf("capacity = %d with a dropped card, want 8 (the chip stays advertised, unhealthy)", c)
	}
	p.Sim(t, "card", "restore", "--card", "2")
	within("Ascend910-2 healthy after its card returned", testbed.Allocatable(res, 8))
}
