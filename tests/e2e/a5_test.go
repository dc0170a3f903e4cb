package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// An Ascend 950 (A5) node: the simulator's a5-8 topology is a driver that
// serves only the dcmiv2 API (dcmi_init fails), with logic ids that are the
// phy ids swapped in pairs. kubelet's device manager must see huawei.com/npu
// registered with npu-<phy> IDs, admit a pod whose containers get
// /dev/davinci<logic id>, the host's UB device files and
// HCCL_TOPO_FILE_PATH, and see a fault read through dcmiv2 take a chip out
// of allocatable until it clears.
func TestA5NodeRegistersAndAllocates(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, time.Minute)
	n := testbed.StartNode(t)
	dev := n.DevRoot(t, "davinci_manager", "hisi_hdc")
	for _, dir := range []string{"uburma", "ummu"} {
		if err := os.MkdirAll(filepath.Join(dev, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range []string{"uburma/uburma0", "ummu/ummu_tid"} {
		if err := os.WriteFile(filepath.Join(dev, file), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := n.StartPlugin(t, testbed.PluginOptions{Topology: "a5-8", DevRoot: dev, Flags: []string{"-listWatchPeriod=3"}})
	const res = "huawei.com/npu"
	r, err := n.WaitResources(ctx, "8 A5 chips", testbed.Allocatable(res, 8))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"npu-0", "npu-1", "npu-2", "npu-3", "npu-4", "npu-5", "npu-6", "npu-7"}
	if got := healthyIDs(r, res); !equal(got, want) {
		t.Fatalf("allocatable IDs = %v, want %v", got, want)
	}

	// One chip: its logic id differs from its phy id (a pair of chips
	// would name the same two device nodes either way).
	a, err := n.DM.Admit(ctx, pod("a5", res, 1))
	if err != nil {
		t.Fatal(err)
	}
	c := a.Containers[0]
	ids := c.Devices[res]
	if len(ids) != 1 {
		t.Fatalf("container got %v, want 1 device", ids)
	}
	specs := map[string]string{
		"/dev/davinci_manager": "/dev/davinci_manager",
		"/dev/hisi_hdc":        "/dev/hisi_hdc",
		"/dev/uburma/uburma0":  "/dev/uburma/uburma0",
		"/dev/ummu/ummu_tid":   "/dev/ummu/ummu_tid",
	}
	for _, id := range ids {
		phy, err := strconv.Atoi(lastField(id))
		if err != nil {
			t.Fatalf("device ID %q is not npu-<phy>", id)
		}
		logic := "/dev/davinci" + strconv.Itoa(phy^1) // a5-8: logic = phy swapped in pairs
		specs[logic] = logic
	}
	got := map[string]string{}
	for _, d := range c.Options.Devices {
		got[d.ContainerPath] = d.HostPath
		if d.Permissions != "rw" {
			t.Errorf("device %s permissions %q, want rw", d.ContainerPath, d.Permissions)
		}
	}
	if !sameMap(got, specs) {
		t.Errorf("device specs for %v:\n got  %v\n want %v", ids, got, specs)
	}
	if v := c.Options.Envs["HCCL_TOPO_FILE_PATH"]; v != "/usr/local/Ascend/driver/topo/950/atlas_850_1.json" {
		t.Errorf("HCCL_TOPO_FILE_PATH = %q, want the 8P server's topology file", v)
	}

	// A fault read through dcmiv2 takes a free chip out of allocatable.
	free := ""
	for _, id := range want {
		if !slices.Contains(ids, id) {
			free = id
			break
		}
	}
	p.Sim(t, "fault", "raise", "--phy", lastField(free), "--code", "80E01801", "--severity", "2")
	if _, err := n.WaitResources(ctx, free+" unhealthy", func(r dmapi.Resources) bool {
		return !slices.Contains(healthyIDs(r, res), free)
	}); err != nil {
		t.Fatal(err)
	}
	p.Sim(t, "fault", "clear", "--phy", lastField(free))
	if _, err := n.WaitResources(ctx, free+" healthy again", func(r dmapi.Resources) bool {
		return slices.Contains(healthyIDs(r, res), free)
	}); err != nil {
		t.Fatal(err)
	}
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
