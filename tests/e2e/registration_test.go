package e2e

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// ids returns prefix+N for each N.
func ids(prefix string, nums ...int) []string {
	out := make([]string, len(nums))
	for i, n := range nums {
		out[i] = fmt.Sprintf("%s%d", prefix, n)
	}
	sort.Strings(out)
	return out
}

func span(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// Expected registrations per simulated topology (spec/compat.md §2): one
// resource per type, device IDs <Type>-<phyID> (the DCMI physical id, not
// the logic id), a chip with static vNPUs advertised only through them as
// <Type>-<suffix>-<vdevID>-<phyID>.
var registrations = []struct {
	topology string
	flags    []string
	want     map[string][]string
}{
	{"910-8", nil, map[string][]string{"huawei.com/Ascend910": ids("Ascend910-", span(0, 7)...)}},
	// Logic ids of phy 8-15 are swapped in fours: IDs must follow phy ids.
	{"910b-16", nil, map[string][]string{"huawei.com/Ascend910": ids("Ascend910-", span(0, 15)...)}},
	{"a3-16", nil, map[string][]string{"huawei.com/Ascend910": ids("Ascend910-", span(0, 15)...)}},
	{"310-4", nil, map[string][]string{"huawei.com/Ascend310": ids("Ascend310-", span(0, 3)...)}},
	{"310b-1", nil, map[string][]string{"huawei.com/Ascend310": {"Ascend310-0"}}},
	{"310p-mixed", nil, map[string][]string{"huawei.com/Ascend310P": ids("Ascend310P-", 0, 1, 2)}},
	{"310p-mixed", []string{"-use310PMixedInsert=true"}, map[string][]string{
		"huawei.com/Ascend310P-V":    {"Ascend310P-V-0"},
		"huawei.com/Ascend310P-VPro": {"Ascend310P-VPro-1"},
		"huawei.com/Ascend310P-IPro": {"Ascend310P-IPro-2"},
	}},
	// phy 0: vir02, vir02, vir04 (vdev 100-102); phy 1: vir01 x 2 (103, 104).
	{"310p-duo-vnpu", nil, map[string][]string{
		"huawei.com/Ascend310P":    ids("Ascend310P-", 2, 3),
		"huawei.com/Ascend310P-2c": {"Ascend310P-2c-100-0", "Ascend310P-2c-101-0"},
		"huawei.com/Ascend310P-4c": {"Ascend310P-4c-102-0"},
		"huawei.com/Ascend310P-1c": {"Ascend310P-1c-103-1", "Ascend310P-1c-104-1"},
	}},
	// Share mode: each chip advertised shareDevCount times.
	{"310-4", []string{"-shareDevCount=2"}, map[string][]string{"huawei.com/Ascend310": {
		"Ascend310-0-0", "Ascend310-0-1", "Ascend310-1-0", "Ascend310-1-1",
		"Ascend310-2-0", "Ascend310-2-1", "Ascend310-3-0", "Ascend310-3-1",
	}}},
}

func TestPluginRegistersEveryTopologyWithTheRealDeviceManager(t *testing.T) {
	testbed.RequirePlugin(t)
	for _, tc := range registrations {
		name := tc.topology
		for _, f := range tc.flags {
			name += f
		}
		t.Run(name, func(t *testing.T) {
			ctx := scenario(t, 2*time.Minute)
			n := testbed.StartNode(t)
			n.StartPlugin(t, testbed.PluginOptions{Topology: tc.topology, Flags: tc.flags})
			r, err := n.WaitResources(ctx, "every resource", func(r dmapi.Resources) bool {
				for res, devs := range tc.want {
					if r.Resources[res].Allocatable != int64(len(devs)) {
						return false
					}
				}
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			// Let a late extra registration show up before judging.
			time.Sleep(300 * time.Millisecond)
			if r, err = n.DM.Resources(ctx); err != nil {
				t.Fatal(err)
			}
			for res, want := range tc.want {
				got := r.Resources[res]
				if got.Capacity != int64(len(want)) || got.Allocatable != int64(len(want)) {
					t.Errorf("%s: capacity %d allocatable %d, want %d", res, got.Capacity, got.Allocatable, len(want))
				}
				if ids := healthyIDs(r, res); !equal(ids, want) {
					t.Errorf("%s: device IDs %v, want %v", res, ids, want)
				}
			}
			for res := range r.Resources {
				if _, ok := tc.want[res]; !ok {
					t.Errorf("unexpected resource %s registered: %+v", res, r.Resources[res])
				}
			}
			all, stale, err := n.Sockets()
			if err != nil {
				t.Fatal(err)
			}
			wantSockets := []string{"kubelet.sock"}
			for res := range tc.want {
				wantSockets = append(wantSockets, res[len("huawei.com/"):]+".sock")
			}
			sort.Strings(wantSockets)
			if !equal(all, wantSockets) || len(stale) != 0 {
				t.Errorf("sockets %v (stale %v), want %v", all, stale, wantSockets)
			}
		})
	}
}
