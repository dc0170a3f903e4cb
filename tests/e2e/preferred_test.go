package e2e

import (
	"fmt"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// On an 8 x 910 node (HCCS rings 0-3 and 4-7) with chips 1 and 2 busy, the
// device manager's choice (GetPreferredAllocation through its real
// devicesToAllocate) for a 4-chip pod is the only ring with four free chips,
// and a following 2-chip pod gets the two free chips of the other ring.
func TestPluginPreferredAllocationChoosesWholeRingsThroughTheDeviceManager(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, 2*time.Minute)
	n := testbed.StartNode(t)
	n.StartPlugin(t, testbed.PluginOptions{Topology: "910-8"})
	const res = "huawei.com/Ascend910"
	if _, err := n.WaitResources(ctx, "8 chips", testbed.Allocatable(res, 8)); err != nil {
		t.Fatal(err)
	}

	// Make exactly chips 1 and 2 busy whatever the plugin prefers: fill the
	// node with 1-chip pods, then let every pod but those on 1 and 2 end.
	holder := map[string]string{}
	for i := 0; i < 8; i++ {
		a, err := n.DM.Admit(ctx, pod(fmt.Sprintf("filler-%d", i), res, 1))
		if err != nil {
			t.Fatal(err)
		}
		holder[a.Containers[0].Devices[res][0]] = a.UID
	}
	if len(holder) != 8 {
		t.Fatalf("8 one-chip pods hold %v, want every chip once", holder)
	}
	for chip, uid := range holder {
		if chip != "Ascend910-1" && chip != "Ascend910-2" {
			if err := n.DM.Terminate(ctx, uid); err != nil {
				t.Fatal(err)
			}
		}
	}

	four, err := n.DM.Admit(ctx, pod("four", res, 4))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := four.Containers[0].Devices[res], ids("Ascend910-", 4, 5, 6, 7); !equal(got, want) {
		t.Errorf("4-chip pod with chips 1, 2 busy got %v, want %v (the only ring with 4 free chips)", got, want)
	}
	two, err := n.DM.Admit(ctx, pod("two", res, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := two.Containers[0].Devices[res], ids("Ascend910-", 0, 3); !equal(got, want) {
		t.Errorf("following 2-chip pod got %v, want %v", got, want)
	}
	// The node is now full: the manager must refuse one more chip.
	if _, err := n.DM.Admit(ctx, dmapi.Pod{Name: "extra", UID: "uid-extra", Containers: []dmapi.Container{{Name: "c", Limits: map[string]int64{res: 1}}}}); !refused(err) {
		t.Errorf("a ninth chip: err = %v, want the manager to refuse", err)
	}
}
