package e2e

// The DRA bed without the plugin: what the DRA scenarios rely on from
// kube-scheduler, kubelet's DRA manager and the shipped DeviceClasses,
// checked against ResourceSlices the admin writes in the schema docs/dra.md
// documents. A failure here is the bed's, not the plugin's.

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"ascend-device-plugin/tests/e2e/internal/draapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// ringSlice is a 910-8 node's pool as DRA mode publishes it (docs/dra.md):
// npu-0..7, rings 0-3 and 4-7.
func ringSlice(node string) *resourcev1.ResourceSlice {
	s := &resourcev1.ResourceSlice{
		ObjectMeta: metav1.ObjectMeta{GenerateName: node + "-npu-"},
		Spec: resourcev1.ResourceSliceSpec{
			Driver: testbed.DRADriver, NodeName: ptr.To(node),
			Pool: resourcev1.ResourcePool{Name: node, Generation: 1, ResourceSliceCount: 1},
		},
	}
	for phy := int64(0); phy < 8; phy++ {
		s.Spec.Devices = append(s.Spec.Devices, resourcev1.Device{
			Name: fmt.Sprintf("npu-%d", phy),
			Attributes: map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{
				"deviceType":    {StringValue: ptr.To("Ascend910")},
				"physicId":      {IntValue: ptr.To(phy)},
				"type":          {StringValue: ptr.To("chip")},
				"hccsGroup":     {IntValue: ptr.To(phy / 4)},
				"hccsGroupSize": {IntValue: ptr.To(int64(4))},
			},
		})
	}
	return s
}

// ringClaim is docs/dra.md's "4 chips on one HCCS ring".
func ringClaim() ([]claimRequest, []resourcev1.DeviceConstraint) {
	return []claimRequest{{name: "npus", class: testbed.DRADriver, count: 4,
			selectors: []string{`device.attributes["npu.huawei.com"].?hccsGroupSize.orValue(0) == 4`}}},
		[]resourcev1.DeviceConstraint{{Requests: []string{"npus"}, MatchAttribute: ptr.To(resourcev1.FullyQualifiedName("npu.huawei.com/hccsGroup"))}}
}

func TestDRAHarnessKubeletWipesSlicesAndTheSchedulerAllocatesRings(t *testing.T) {
	ctx := scenario(t, 4*time.Minute)
	c := startDRACluster(ctx, t)
	const node = "dra-harness"
	c.createSchedulableNode(ctx, t, node)
	stale, err := c.admin.ResourceV1().ResourceSlices().Create(ctx, ringSlice(node), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the admin publishing a slice in DRA mode's schema: %v", err)
	}

	// kubelet's DRA manager deletes the node's slices when it starts.
	n := testbed.StartDRANode(t, c.cp, node)
	c.waitSlices(ctx, t, node, time.Minute, "wiped by kubelet's start", func(d map[string]resourcev1.Device) bool { return len(d) == 0 })
	if _, err := c.admin.ResourceV1().ResourceSlices().Get(ctx, stale.Name, metav1.GetOptions{}); err == nil {
		t.Fatalf("slice %s is still there after kubelet's start", stale.Name)
	}

	// The scheduler's DynamicResources plugin and the shipped classes: two
	// ring claims get the two rings, a third finds none.
	if _, err := c.admin.ResourceV1().ResourceSlices().Create(ctx, ringSlice(node), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Every family class selects by deviceType and type: while all eight
	// chips are free, a class of another family finds none of them.
	c.createClaim(ctx, t, "other-family", []claimRequest{{name: "npu", class: "ascend310p.npu.huawei.com", count: 1}}, nil)
	other := c.createClaimPod(ctx, t, "other-family", "other-family")
	c.waitUnschedulable(ctx, t, other, time.Minute)
	if err := c.admin.CoreV1().Pods(draNamespace).Delete(ctx, other.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	reqs, cons := ringClaim()
	var rings []string
	for i := range 2 {
		c.createClaim(ctx, t, fmt.Sprintf("ring-%d", i), reqs, cons)
		pod := c.createClaimPod(ctx, t, fmt.Sprintf("ring-%d", i), fmt.Sprintf("ring-%d", i))
		bound, claims := c.waitScheduled(ctx, t, pod, time.Minute)
		if bound.Spec.NodeName != node {
			t.Fatalf("pod %s bound to %q, want %s", pod.Name, bound.Spec.NodeName, node)
		}
		rings = append(rings, strings.Join(allocated(claims[0]), ","))
	}
	if got := strings.Join(rings, " "); got != "npu-0,npu-1,npu-2,npu-3 npu-4,npu-5,npu-6,npu-7" &&
		got != "npu-4,npu-5,npu-6,npu-7 npu-0,npu-1,npu-2,npu-3" {
		t.Fatalf("two ring claims got %q, want one whole ring each", got)
	}
	c.createClaim(ctx, t, "ring-2", reqs, cons)
	third := c.createClaimPod(ctx, t, "ring-2", "ring-2")
	t.Logf("third ring claim: %s", c.waitUnschedulable(ctx, t, third, time.Minute))

	// The API server keeps device taints and shared counters (gates
	// DRADeviceTaints and DRAPartitionableDevices, on by default in 1.37):
	// a disabled gate would drop the fields silently.
	const gates = "dra-harness-gates"
	counters := &resourcev1.ResourceSlice{
		ObjectMeta: metav1.ObjectMeta{GenerateName: gates + "-"},
		Spec: resourcev1.ResourceSliceSpec{
			Driver: testbed.DRADriver, NodeName: ptr.To(gates),
			Pool: resourcev1.ResourcePool{Name: gates, Generation: 1, ResourceSliceCount: 2},
			SharedCounters: []resourcev1.CounterSet{{Name: "npu-0-counters", Counters: map[string]resourcev1.Counter{
				"aicore": {Value: resource.MustParse("8")}}}},
		},
	}
	devices := ringSlice(gates)
	devices.Spec.Pool.ResourceSliceCount = 2
	devices.Spec.Devices = devices.Spec.Devices[:1]
	devices.Spec.Devices[0].Taints = []resourcev1.DeviceTaint{{Key: "npu.huawei.com/unhealthy", Value: "L2", Effect: resourcev1.DeviceTaintEffectNoSchedule}}
	devices.Spec.Devices[0].ConsumesCounters = []resourcev1.DeviceCounterConsumption{{CounterSet: "npu-0-counters", Counters: map[string]resourcev1.Counter{
		"aicore": {Value: resource.MustParse("2")}}}}
	for _, slice := range []*resourcev1.ResourceSlice{counters, devices} {
		if _, err := c.admin.ResourceV1().ResourceSlices().Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			t.Fatalf("the admin publishing a slice with shared counters or taints: %v", err)
		}
	}
	kept := c.nodeSlices(ctx, t, gates)
	var taints, consumes, sets int
	for _, s := range kept {
		sets += len(s.Spec.SharedCounters)
		for _, d := range s.Spec.Devices {
			taints += len(d.Taints)
			consumes += len(d.ConsumesCounters)
		}
	}
	if taints != 1 || consumes != 1 || sets != 1 {
		t.Fatalf("the API server kept %d taints, %d counter consumptions, %d counter sets of 1 each: a DRA feature gate is off", taints, consumes, sets)
	}

	// No driver registered: kubelet refuses to start the pod.
	_, err = n.Manager.Prepare(ctx, draNamespace, "ring-0")
	var se *draapi.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusConflict || !strings.Contains(se.Message, "not registered") {
		t.Fatalf("prepare without a registered driver answered %v, want 409 naming the unregistered driver", err)
	}
}

// TestDRAPolicyConfinesANodesTokenToItsOwnSlices applies the dra overlay's
// RBAC and admission policy and checks what a token of DRA mode's
// ServiceAccount, bound to its pod on one node as the DaemonSet's is, may
// do with ResourceSlices: its own node's pool of npu.huawei.com, nothing
// else.
func TestDRAPolicyConfinesANodesTokenToItsOwnSlices(t *testing.T) {
	ctx := scenario(t, 3*time.Minute)
	cp := testbed.StartControlPlaneWithPoliciesFor(t, draOverlay, draAccount)
	c := &draCluster{cp: cp, admin: testbed.TokenClient(t, cp, adminToken(t, cp))}
	const own, other = "dra-policy-a", "dra-policy-b"
	ownNode := c.createSchedulableNode(ctx, t, own)
	c.createSchedulableNode(ctx, t, other)
	plugin := testbed.TokenClient(t, cp, testbed.MintToken(ctx, t, cp, testbed.PluginPod(ctx, t, cp, own)).Token)
	unbound := testbed.TokenClient(t, cp, testbed.MintToken(ctx, t, cp, nil).Token)
	slices := plugin.ResourceV1().ResourceSlices()
	// The API server loads a new policy within a second or two.
	waitFor(ctx, t, "the DRA admission policy to take effect", func() bool {
		_, err := slices.Create(ctx, ringSlice(other), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsForbidden(err)
	})

	// Allowed: its own pool, created, updated, deleted, owned by its Node.
	mine := ringSlice(own)
	mine.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: own, UID: ownNode.UID}}
	created, err := slices.Create(ctx, mine, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the plugin's token creating its own node's slice: %v", err)
	}
	created.Spec.Pool.Generation++
	if created, err = slices.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("the plugin's token updating its own node's slice: %v", err)
	}

	forbidden := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: allowed, want Forbidden", what)
		} else if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}
	// Refused by the policy: another node's slices, another driver, a pool
	// not named after the node, an owner other than its Node.
	_, err = slices.Create(ctx, ringSlice(other), metav1.CreateOptions{})
	forbidden("creating a slice on another node", err)
	theirs, err := c.admin.ResourceV1().ResourceSlices().Create(ctx, ringSlice(other), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	theirs.Spec.Pool.Generation++
	_, err = slices.Update(ctx, theirs, metav1.UpdateOptions{})
	forbidden("updating another node's slice", err)
	forbidden("deleting another node's slice", slices.Delete(ctx, theirs.Name, metav1.DeleteOptions{}))
	gpu := ringSlice(own)
	gpu.Spec.Driver = "gpu.example.com"
	_, err = slices.Create(ctx, gpu, metav1.CreateOptions{})
	forbidden("creating a slice of another driver", err)
	pool := ringSlice(own)
	pool.Spec.Pool.Name = other
	_, err = slices.Create(ctx, pool, metav1.CreateOptions{})
	forbidden("creating a slice in a pool named after another node", err)
	owned := ringSlice(own)
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: other, UID: "0b0e6f4c-0000-0000-0000-000000000000"}}
	_, err = slices.Create(ctx, owned, metav1.CreateOptions{})
	forbidden("creating a slice owned by another node", err)
	// A token of the account not bound to a pod carries no node.
	_, err = unbound.ResourceV1().ResourceSlices().Create(ctx, ringSlice(own), metav1.CreateOptions{})
	forbidden("creating a slice with a token bound to no pod", err)

	// ConfigMaps: only the own node's device-info ConfigMap.
	cms := plugin.CoreV1().ConfigMaps("kube-system")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mindx-dl-deviceinfo-" + own}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("the plugin's token creating its own node's device-info ConfigMap: %v", err)
	}
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mindx-dl-deviceinfo-" + other}}, metav1.CreateOptions{})
	forbidden("creating another node's device-info ConfigMap", err)
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "coredns"}}, metav1.CreateOptions{})
	forbidden("creating ConfigMap coredns", err)

	// Refused by RBAC: what DRA mode never does.
	_, err = plugin.ResourceV1().DeviceClasses().Create(ctx, &resourcev1.DeviceClass{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{})
	forbidden("creating a DeviceClass", err)
	_, err = plugin.ResourceV1().ResourceClaims(draNamespace).List(ctx, metav1.ListOptions{})
	forbidden("listing claims", err)
	_, err = plugin.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
	forbidden("listing secrets", err)
	_, err = plugin.CoreV1().Nodes().Update(ctx, ownNode, metav1.UpdateOptions{})
	forbidden("updating its Node", err)

	if err := slices.Delete(ctx, created.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("the plugin's token deleting its own node's slice: %v", err)
	}
}

// adminToken is the admin's bearer token from the admin kubeconfig.
func adminToken(t *testing.T, cp *testbed.ControlPlane) string {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.BearerToken
}
