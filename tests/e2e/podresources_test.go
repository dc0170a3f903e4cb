package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/fakeplugin"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// listPodResources calls List on the node's pod-resources socket, retrying
// (5 s at most) while the socket is missing, as after a kubelet restart.
func listPodResources(ctx context.Context, t *testing.T, n *testbed.Node) *podresourcesv1.ListPodResourcesResponse {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+n.PodResources, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := podresourcesv1.NewPodResourcesListerClient(conn)
	deadline := time.Now().Add(5 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := client.List(cctx, &podresourcesv1.ListPodResourcesRequest{})
		cancel()
		if err == nil {
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod-resources List on %s: %v", n.PodResources, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// devicesOf gathers the device IDs pod-resources reports for a pod's
// container, sorted ("" when the pod is not listed).
func devicesOf(resp *podresourcesv1.ListPodResourcesResponse, namespace, name, container, resource string) ([]string, bool) {
	for _, p := range resp.GetPodResources() {
		if p.GetNamespace() != namespace || p.GetName() != name {
			continue
		}
		var ids []string
		for _, c := range p.GetContainers() {
			if c.GetName() != container {
				continue
			}
			for _, d := range c.GetDevices() {
				if d.GetResourceName() == resource {
					ids = append(ids, d.GetDeviceIds()...)
				}
			}
		}
		sort.Strings(ids)
		return ids, true
	}
	return nil, false
}

// The harness serves kubelet's own pod-resources server
// (k8s.io/kubernetes/pkg/kubelet/apis/podresources) on
// /var/lib/kubelet/pod-resources/kubelet.sock: admitted pods with their
// name, namespace and devices; allocatable devices; the same after a
// kubelet restart (from the checkpoint); a terminated pod gone.
func TestHarnessServesThePodResourcesAPIFromTheDeviceManager(t *testing.T) {
	ctx := scenario(t, 2*time.Minute)
	n := testbed.StartNode(t)
	startFake(t, n, fakeplugin.Config{Devices: fakeIDs(4)})
	if _, err := n.WaitResources(ctx, "4 fake devices", testbed.Allocatable(fakeResource, 4)); err != nil {
		t.Fatal(err)
	}
	p := dmapi.Pod{Name: "job-0", Namespace: "team-a", UID: "0d5c1a9e-3f1e-4d7a-9c55-7f7d8d0e2a11",
		Containers: []dmapi.Container{{Name: "main", Limits: map[string]int64{fakeResource: 2}}}}
	a, err := n.DM.Admit(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	want := a.Containers[0].Devices[fakeResource]

	got, ok := devicesOf(listPodResources(ctx, t, n), "team-a", "job-0", "main", fakeResource)
	if !ok || !equal(got, want) {
		t.Errorf("pod-resources List: team-a/job-0 listed %v with %v, want %v", ok, got, want)
	}
	conn, err := grpc.NewClient("unix://"+n.PodResources, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	alloc, err := podresourcesv1.NewPodResourcesListerClient(conn).GetAllocatableResources(ctx, &podresourcesv1.AllocatableResourcesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, d := range alloc.GetDevices() {
		all = append(all, d.GetDeviceIds()...)
	}
	sort.Strings(all)
	if !equal(all, fakeIDs(4)) {
		t.Errorf("GetAllocatableResources = %v, want %v", all, fakeIDs(4))
	}

	if _, err := n.DM.Restart(ctx, dmapi.RestartRequest{DownMillis: 200}); err != nil {
		t.Fatal(err)
	}
	got, ok = devicesOf(listPodResources(ctx, t, n), "team-a", "job-0", "main", fakeResource)
	if !ok || !equal(got, want) {
		t.Errorf("after a kubelet restart pod-resources lists team-a/job-0 %v with %v, want %v (checkpoint)", ok, got, want)
	}

	if err := n.DM.Terminate(ctx, p.UID); err != nil {
		t.Fatal(err)
	}
	if _, ok := devicesOf(listPodResources(ctx, t, n), "team-a", "job-0", "main", fakeResource); ok {
		t.Errorf("a terminated pod is still listed by pod-resources")
	}
}
