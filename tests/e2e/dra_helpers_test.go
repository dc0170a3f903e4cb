package e2e

// What the DRA scenarios share: one control plane with the shipped dra
// overlay's RBAC, admission policy and DeviceClasses, kube-scheduler, nodes
// a scheduler can place pods on, claims and pods that use them.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"ascend-device-plugin/tests/e2e/internal/manifest"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// draOverlay is the shipped DRA manifest every DRA scenario applies.
var draOverlay = filepath.Join("..", "..", "deploy", "rendered", "dra.yaml")

// draAccount is DRA mode's ServiceAccount in that manifest.
const draAccount = "kube-system/ascend-device-plugin-dra"

// draNamespace holds the scenarios' claims and pods.
const draNamespace = "npu-jobs"

type draCluster struct {
	cp        *testbed.ControlPlane
	admin     *kubernetes.Clientset
	scheduler *testbed.Proc
	// classes are the DeviceClass names the overlay ships.
	classes []string
}

// startDRACluster starts kube-apiserver with the dra overlay's RBAC and
// admission policy (the plugin's ServiceAccount is DRA mode's), applies its
// DeviceClasses as the admin would, and starts kube-scheduler.
func startDRACluster(ctx context.Context, t *testing.T) *draCluster {
	t.Helper()
	cp := testbed.StartControlPlaneWithPoliciesFor(t, draOverlay, draAccount)
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &draCluster{cp: cp, admin: admin}
	objs, err := manifest.Read(draOverlay)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		if obj.GetKind() != "DeviceClass" {
			continue
		}
		data, err := obj.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var class resourcev1.DeviceClass
		if err := json.Unmarshal(data, &class); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.ResourceV1().DeviceClasses().Create(ctx, &class, metav1.CreateOptions{}); err != nil {
			t.Fatalf("admin creating the shipped DeviceClass %s: %v", class.Name, err)
		}
		c.classes = append(c.classes, class.Name)
	}
	if !slices.Contains(c.classes, testbed.DRADriver) {
		t.Fatalf("%s ships no DeviceClass %s (has %v)", draOverlay, testbed.DRADriver, c.classes)
	}
	createNamespace(ctx, t, admin, draNamespace)
	c.scheduler = testbed.StartScheduler(t, cp)
	return c
}

// createSchedulableNode creates a Node the scheduler can place pods on:
// Ready, with CPU, memory and pod room, no taints.
func (c *draCluster) createSchedulableNode(ctx context.Context, t *testing.T, name string) *corev1.Node {
	t.Helper()
	node, err := c.admin.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "npu.huawei.com/dra": "true"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("admin creating node %s: %v", name, err)
	}
	room := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node.Status = corev1.NodeStatus{
		Capacity: room, Allocatable: room,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}},
	}
	node, err = c.admin.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("admin setting the status of node %s: %v", name, err)
	}
	// The API server's TaintNodesByCondition admission gave the new node
	// the not-ready taint; no node lifecycle controller runs to lift it.
	node.Spec.Taints = nil
	node, err = c.admin.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("admin removing the taints of node %s: %v", name, err)
	}
	return node
}

// claimRequest is one request of exactly count devices of class, with CEL
// selectors and tolerations.
type claimRequest struct {
	name, class string
	count       int64
	selectors   []string
	tolerations []resourcev1.DeviceToleration
}

// createClaim creates a ResourceClaim with the requests and constraints.
func (c *draCluster) createClaim(ctx context.Context, t *testing.T, name string, reqs []claimRequest, constraints []resourcev1.DeviceConstraint) *resourcev1.ResourceClaim {
	t.Helper()
	claim := &resourcev1.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: draNamespace}}
	for _, r := range reqs {
		exact := &resourcev1.ExactDeviceRequest{DeviceClassName: r.class, AllocationMode: resourcev1.DeviceAllocationModeExactCount, Count: r.count, Tolerations: r.tolerations}
		for _, expr := range r.selectors {
			exact.Selectors = append(exact.Selectors, resourcev1.DeviceSelector{CEL: &resourcev1.CELDeviceSelector{Expression: expr}})
		}
		claim.Spec.Devices.Requests = append(claim.Spec.Devices.Requests, resourcev1.DeviceRequest{Name: r.name, Exactly: exact})
	}
	claim.Spec.Devices.Constraints = constraints
	created, err := c.admin.ResourceV1().ResourceClaims(draNamespace).Create(ctx, claim, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating claim %s: %v", name, err)
	}
	return created
}

// createClaimPod creates a pod (no node: the scheduler places it) whose
// container "main" uses every request of the claims, one pod claim each.
func (c *draCluster) createClaimPod(ctx context.Context, t *testing.T, name string, claims ...string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: draNamespace},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "main", Image: "npu-job:e2e"}},
		},
	}
	for i, claim := range claims {
		ref := fmt.Sprintf("c%d", i)
		pod.Spec.ResourceClaims = append(pod.Spec.ResourceClaims, corev1.PodResourceClaim{Name: ref, ResourceClaimName: &claim})
		pod.Spec.Containers[0].Resources.Claims = append(pod.Spec.Containers[0].Resources.Claims, corev1.ResourceClaim{Name: ref})
	}
	created, err := c.admin.CoreV1().Pods(draNamespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	return created
}

// waitScheduled waits until the scheduler bound the pod, and answers the
// pod and its claims as the scheduler left them (allocated, reserved).
func (c *draCluster) waitScheduled(ctx context.Context, t *testing.T, pod *corev1.Pod, limit time.Duration) (*corev1.Pod, []*resourcev1.ResourceClaim) {
	t.Helper()
	got, err := waitPod(ctx, c.admin, pod.Namespace, pod.Name, limit, "scheduled", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
	if err != nil {
		t.Fatalf("%v; conditions %s", err, podConditions(got))
	}
	var claims []*resourcev1.ResourceClaim
	for _, pc := range got.Spec.ResourceClaims {
		claim, err := c.admin.ResourceV1().ResourceClaims(pod.Namespace).Get(ctx, *pc.ResourceClaimName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if claim.Status.Allocation == nil {
			t.Fatalf("pod %s bound to %s, but claim %s has no allocation", pod.Name, got.Spec.NodeName, claim.Name)
		}
		if !slices.ContainsFunc(claim.Status.ReservedFor, func(r resourcev1.ResourceClaimConsumerReference) bool { return r.UID == got.UID }) {
			t.Fatalf("claim %s is not reserved for pod %s: %v", claim.Name, pod.Name, claim.Status.ReservedFor)
		}
		claims = append(claims, claim)
	}
	return got, claims
}

// waitUnschedulable waits until the scheduler reported the pod
// unschedulable (PodScheduled False, reason Unschedulable), and answers
// its message. The pod is then left unbound and its claims unallocated.
func (c *draCluster) waitUnschedulable(ctx context.Context, t *testing.T, pod *corev1.Pod, limit time.Duration) string {
	t.Helper()
	var msg string
	got, err := waitPod(ctx, c.admin, pod.Namespace, pod.Name, limit, "reported unschedulable", func(p *corev1.Pod) bool {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				msg = cond.Message
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("%v; conditions %s", err, podConditions(got))
	}
	if got.Spec.NodeName != "" {
		t.Fatalf("pod %s is bound to %s yet reported unschedulable", pod.Name, got.Spec.NodeName)
	}
	return msg
}

func podConditions(p *corev1.Pod) string {
	if p == nil {
		return "(no pod)"
	}
	var out []string
	for _, c := range p.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// release ends a pod as kubelet and the resourceclaim controller would
// (neither runs here): the pod is deleted (it leaves the node's active
// pods), then each claim's reservation and allocation are cleared, which
// makes its devices free for the scheduler again.
func (c *draCluster) release(ctx context.Context, t *testing.T, pod *corev1.Pod) {
	t.Helper()
	zero := int64(0)
	if err := c.admin.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	for _, pc := range pod.Spec.ResourceClaims {
		claim, err := c.admin.ResourceV1().ResourceClaims(pod.Namespace).Get(ctx, *pc.ResourceClaimName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		claim.Status.ReservedFor = nil
		claim.Status.Allocation = nil
		if _, err := c.admin.ResourceV1().ResourceClaims(pod.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("clearing the allocation of claim %s: %v", claim.Name, err)
		}
	}
}

// nodeSlices lists the node's ResourceSlices of DRA mode's driver.
func (c *draCluster) nodeSlices(ctx context.Context, t *testing.T, node string) []resourcev1.ResourceSlice {
	t.Helper()
	list, err := c.admin.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{resourcev1.ResourceSliceSelectorNodeName: node, resourcev1.ResourceSliceSelectorDriver: testbed.DRADriver}.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// waitSlices waits until the node's published devices satisfy ok, and
// answers them by name (the highest generation of the pool, complete).
func (c *draCluster) waitSlices(ctx context.Context, t *testing.T, node string, limit time.Duration, what string, ok func(map[string]resourcev1.Device) bool) map[string]resourcev1.Device {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last map[string]resourcev1.Device
	for {
		if devices, complete := poolDevices(c.nodeSlices(ctx, t, node)); complete {
			last = devices
			if ok(devices) {
				return devices
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: the published devices are not %s within %v; last: %v", node, what, limit, deviceNames(last))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// poolDevices are the devices of the highest generation of the slices'
// pool, and whether that generation is complete (resourceSliceCount seen).
// No slice at all is a complete, empty pool: the node publishes nothing.
func poolDevices(slices []resourcev1.ResourceSlice) (map[string]resourcev1.Device, bool) {
	if len(slices) == 0 {
		return map[string]resourcev1.Device{}, true
	}
	var gen int64 = -1
	for _, s := range slices {
		gen = max(gen, s.Spec.Pool.Generation)
	}
	devices := map[string]resourcev1.Device{}
	var seen, want int64
	for _, s := range slices {
		if s.Spec.Pool.Generation != gen {
			continue
		}
		seen++
		want = s.Spec.Pool.ResourceSliceCount
		for _, d := range s.Spec.Devices {
			devices[d.Name] = d
		}
	}
	return devices, gen >= 0 && seen == want
}

func deviceNames(devices map[string]resourcev1.Device) []string {
	names := make([]string, 0, len(devices))
	for name := range devices {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// allocated are the devices of our driver a claim's allocation names.
func allocated(claim *resourcev1.ResourceClaim) []string {
	var out []string
	if claim.Status.Allocation == nil {
		return nil
	}
	for _, r := range claim.Status.Allocation.Devices.Results {
		if r.Driver == testbed.DRADriver {
			out = append(out, r.Device)
		}
	}
	sort.Strings(out)
	return out
}

// intAttr and stringAttr read an attribute of the driver's domain
// (unqualified names) or a fully qualified one.
func intAttr(d resourcev1.Device, name string) (int64, bool) {
	a, ok := attr(d, name)
	if !ok || a.IntValue == nil {
		return 0, false
	}
	return *a.IntValue, true
}

func stringAttr(d resourcev1.Device, name string) (string, bool) {
	a, ok := attr(d, name)
	if !ok || a.StringValue == nil {
		return "", false
	}
	return *a.StringValue, true
}

// attr finds an attribute by its unqualified name in the driver's domain
// under either spelling the API allows ("physicId" or
// "npu.huawei.com/physicId"), or by a fully qualified name.
func attr(d resourcev1.Device, name string) (resourcev1.DeviceAttribute, bool) {
	if a, ok := d.Attributes[resourcev1.QualifiedName(name)]; ok {
		return a, true
	}
	a, ok := d.Attributes[resourcev1.QualifiedName(testbed.DRADriver+"/"+name)]
	return a, ok
}
