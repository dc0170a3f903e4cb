package e2e

// Scenarios that prove the harness itself with the fake Go plugin: they run
// whether or not the Rust plugin is built.

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/fakeplugin"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

const fakeResource = "example.com/fake"

func fakeIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("fake-%d", i)
	}
	return ids
}

func startFake(t *testing.T, n *testbed.Node, cfg fakeplugin.Config) *fakeplugin.Plugin {
	t.Helper()
	cfg.Dir = n.PluginDir
	cfg.Resource = fakeResource
	p, err := fakeplugin.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

func TestHarnessFakePluginRegistersWithTheRealDeviceManager(t *testing.T) {
	ctx := scenario(t, 2*time.Minute)
	n := testbed.StartNode(t)
	startFake(t, n, fakeplugin.Config{Devices: fakeIDs(4)})

	r, err := n.WaitResources(ctx, "4 fake devices", testbed.Allocatable(fakeResource, 4))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Resources[fakeResource].Capacity; got != 4 {
		t.Errorf("capacity = %d, want 4", got)
	}
	if got := healthyIDs(r, fakeResource); !equal(got, fakeIDs(4)) {
		t.Errorf("device IDs = %v, want %v", got, fakeIDs(4))
	}
	all, stale, err := n.Sockets()
	if err != nil {
		t.Fatal(err)
	}
	if !equal(all, []string{"fake.sock", "kubelet.sock"}) || len(stale) != 0 {
		t.Errorf("sockets = %v (stale %v), want fake.sock and kubelet.sock, none stale", all, stale)
	}
}

func TestHarnessAdmissionAnswersTheRunOptionsKubeletGivesTheRuntime(t *testing.T) {
	ctx := scenario(t, 2*time.Minute)
	n := testbed.StartNode(t)
	startFake(t, n, fakeplugin.Config{Devices: fakeIDs(4)})
	if _, err := n.WaitResources(ctx, "4 fake devices", testbed.Allocatable(fakeResource, 4)); err != nil {
		t.Fatal(err)
	}

	a, err := n.DM.Admit(ctx, pod("two", fakeResource, 2))
	if err != nil {
		t.Fatal(err)
	}
	c := a.Containers[0]
	ids := c.Devices[fakeResource]
	if len(ids) != 2 {
		t.Fatalf("devices = %v, want 2", c.Devices)
	}
	want := strings.Join(ids, ",")
	if got := c.Options.Envs["FAKE_VISIBLE_DEVICES"]; got != want {
		t.Errorf("env FAKE_VISIBLE_DEVICES = %q, want %q", got, want)
	}
	if got := c.Options.Annotations["fake.example.com/devices"]; got != want {
		t.Errorf("annotation = %q, want %q", got, want)
	}
	if len(c.Options.Devices) != 2 || len(c.Options.CDIDevices) != 2 || len(c.Options.Mounts) != 1 {
		t.Errorf("run options = %+v, want 2 device specs, 2 CDI devices, 1 mount", c.Options)
	}

	b, err := n.DM.Admit(ctx, pod("other", fakeResource, 2))
	if err != nil {
		t.Fatal(err)
	}
	both := append(append([]string{}, ids...), b.Containers[0].Devices[fakeResource]...)
	sort.Strings(both)
	if !equal(both, fakeIDs(4)) {
		t.Errorf("two pods got %v, want every device exactly once", both)
	}
	if _, err := n.DM.Admit(ctx, pod("third", fakeResource, 1)); !refused(err) {
		t.Errorf("a pod beyond capacity: err = %v, want the manager to refuse it", err)
	}
	if err := n.DM.Terminate(ctx, "uid-other"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.DM.Admit(ctx, pod("third", fakeResource, 2)); err != nil {
		t.Errorf("after a pod terminated its devices should be free again: %v", err)
	}
}

func TestHarnessPreferredAllocationDecidesTheManagersChoice(t *testing.T) {
	ctx := scenario(t, 2*time.Minute)
	n := testbed.StartNode(t)
	// Prefer the highest-numbered devices.
	highest := func(available, must []string, size int) []string {
		ids := append([]string{}, available...)
		sort.Sort(sort.Reverse(sort.StringSlice(ids)))
		return ids[:size]
	}
	startFake(t, n, fakeplugin.Config{Devices: fakeIDs(8), Preferred: highest})
	if _, err := n.WaitResources(ctx, "8 fake devices", testbed.Allocatable(fakeResource, 8)); err != nil {
		t.Fatal(err)
	}
	a, err := n.DM.Admit(ctx, pod("p", fakeResource, 3))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Containers[0].Devices[fakeResource]; !equal(got, []string{"fake-5", "fake-6", "fake-7"}) {
		t.Errorf("devices = %v, want the plugin's preference fake-5..7", got)
	}
}

func TestHarnessHealthChangesMoveAllocatable(t *testing.T) {
	ctx := scenario(t, 2*time.Minute)
	n := testbed.StartNode(t)
	p := startFake(t, n, fakeplugin.Config{Devices: fakeIDs(4)})
	if _, err := n.WaitResources(ctx, "4 fake devices", testbed.Allocatable(fakeResource, 4)); err != nil {
		t.Fatal(err)
	}
	p.SetHealth("fake-2", pluginapi.Unhealthy)
	r, err := n.WaitResources(ctx, "fake-2 unhealthy", testbed.Allocatable(fakeResource, 3))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Resources[fakeResource].Capacity; got != 4 {
		t.Errorf("capacity = %d, want 4 (unhealthy devices still count)", got)
	}
	if got := healthyIDs(r, fakeResource); !equal(got, []string{"fake-0", "fake-1", "fake-3"}) {
		t.Errorf("allocatable IDs = %v", got)
	}
	p.SetHealth("fake-2", pluginapi.Healthy)
	if _, err := n.WaitResources(ctx, "fake-2 healthy again", testbed.Allocatable(fakeResource, 4)); err != nil {
		t.Fatal(err)
	}
}

func TestHarnessRestartKeepsCheckpointedAllocationsAndCutsAnAllocateInFlight(t *testing.T) {
	ctx := scenario(t, 3*time.Minute)
	n := testbed.StartNode(t)
	p := startFake(t, n, fakeplugin.Config{Devices: fakeIDs(4)})
	if _, err := n.WaitResources(ctx, "4 fake devices", testbed.Allocatable(fakeResource, 4)); err != nil {
		t.Fatal(err)
	}
	before, err := n.DM.Admit(ctx, pod("kept", fakeResource, 2))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		restartAndCheck(ctx, t, n, fakeResource, 4, before, []string{"fake.sock", "kubelet.sock"}, time.Duration(i)*100*time.Millisecond)
	}
	if got := p.Registrations(); got != 4 {
		t.Errorf("registrations = %d, want 4 (start + 3 restarts)", got)
	}

	// An Allocate in flight when kubelet goes down: the fake plugin holds
	// every Allocate for 2 s, the restart comes 300 ms in.
	slow := startFakeSlow(t, n)
	_ = slow
	if _, err := n.WaitResources(ctx, "slow resource", testbed.Allocatable("example.com/slow", 2)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := n.DM.Admit(ctx, pod("inflight", "example.com/slow", 1))
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	rs, err := n.DM.Restart(ctx, dmapi.RestartRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rs.Cancelled != 1 {
		t.Errorf("restart cut %d admissions, want 1", rs.Cancelled)
	}
	if err := <-done; !cutByRestart(err) {
		t.Fatalf("admission in flight: err = %v, want it cut off by the restart", err)
	}
	if _, err := n.WaitResources(ctx, "slow re-registered", testbed.Allocatable("example.com/slow", 2)); err != nil {
		t.Fatal(err)
	}
	// kubelet admits the pod again once it is back.
	if a, err := n.DM.Admit(ctx, pod("inflight", "example.com/slow", 1)); err != nil || len(a.Containers[0].Devices["example.com/slow"]) != 1 {
		t.Fatalf("re-admitting the cut-off pod: %+v, %v", a, err)
	}
}

func startFakeSlow(t *testing.T, n *testbed.Node) *fakeplugin.Plugin {
	t.Helper()
	p, err := fakeplugin.Start(fakeplugin.Config{Dir: n.PluginDir, Resource: "example.com/slow", Devices: []string{"slow-0", "slow-1"}, AllocateDelay: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}
