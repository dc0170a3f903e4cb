package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

const (
	// period is the plugin's -listWatchPeriod in the cluster scenarios.
	period = 3 * time.Second
	// healthLimit bounds how long a health change (a fault, an operator's
	// ManuallySeparateNPU edit) may take to reach the device manager.
	healthLimit = 3*period + 2*time.Second
	// watchSettle lets the plugin's pod watch see pods just created, as
	// kubelet sees a bound pod only after its own watch delivers it.
	watchSettle = time.Second
	// podWait is the plugin's default --pod-wait-timeout.
	podWait = 3 * time.Second
	// faultCode is graded Unhealthy by the built-in table (RestartBusiness;
	// unknown, by the SeparateNPU default at severity 2) and has no
	// FaultFrequency rule: the scenario raises it on one chip in several
	// steps, and a code with a rule (80E01801: twice in 24 h) would isolate
	// that chip for good, as upstream's shipped rules do.
	faultCode = "8C204E00"
)

// chipMap is what the node's kubelet IDs stand for: kubelet ID -> the real
// chip of its Volcano allocation, as the write-back pairs them (the same
// position in huawei.com/kltDev and huawei.com/AscendReal).
type chipMap map[string]string

// reported is the chip whose health each kubelet ID reports (compat §11,
// as upstream): every chip by exactly one ID. Taking the IDs in device
// order, a mapped ID reports its real chip (the first mapped to a chip
// keeps it), an unmapped ID its own chip unless a mapped ID took it, and
// the IDs left report the chips left, both in device order.
func (m chipMap) reported(chips int) map[string]string {
	ids := make([]string, chips)
	for i := range ids {
		ids[i] = chipName(i)
	}
	out := map[string]string{}
	taken := map[string]bool{}
	for _, id := range ids {
		if r, ok := m[id]; ok && !taken[r] {
			out[id], taken[r] = r, true
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok && !taken[id] {
			out[id], taken[id] = id, true
		}
	}
	var left []string
	for _, id := range ids {
		if !taken[id] {
			left = append(left, id)
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok && len(left) > 0 {
			out[id], left = left[0], left[1:]
		}
	}
	return out
}

// reals are the chips Volcano allocations use, sorted.
func (m chipMap) reals() []string {
	var out []string
	for _, r := range m {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// unused is a chip no allocation touches: neither a kubelet ID in use nor
// a real chip behind one.
func (m chipMap) unused(chips int) (string, bool) {
	used := map[string]bool{}
	for id, r := range m {
		used[id], used[r] = true, true
	}
	for _, c := range allChips(chips) {
		if !used[c] {
			return c, true
		}
	}
	return "", false
}

// discriminatingFaults picks chips whose faults only the map explains: the
// real chip behind a kubelet ID named after another chip (that ID turns
// unhealthy), and the chip a second kubelet ID is named after while it
// stands for another chip (that ID stays healthy).
func (m chipMap) discriminatingFaults() []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		if m[id] != id {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return nil
	}
	faults := []string{m[ids[0]]}
	for _, id := range ids[1:] {
		if id != faults[0] {
			return append(faults, id)
		}
	}
	return faults
}

// cluster is the state the steps of the Volcano scenario share.
type cluster struct {
	ctx    context.Context
	admin  *kubernetes.Clientset
	sa     *kubernetes.Clientset
	cp     *testbed.ControlPlane
	n      *testbed.Node
	p      *testbed.Plugin
	opts   testbed.PluginOptions
	topo   topology
	node   string
	nodeIP string
	m      chipMap
	// annotated keeps the write-back of each allocated pod, to see that
	// restarts leave it alone.
	annotated map[string]map[string]string
	// starts are the times the plugin was started.
	starts []time.Time
	// done records the steps that passed (later steps need earlier ones).
	done map[string]bool
}

// need skips a step whose prerequisite failed.
func (c *cluster) need(t *testing.T, steps ...string) {
	t.Helper()
	for _, s := range steps {
		if !c.done[s] {
			t.Skipf("needs step %q, which did not pass", s)
		}
	}
}

func (c *cluster) step(t *testing.T, name string, f func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		f(t)
		if !t.Failed() && !t.Skipped() {
			c.done[name] = true
		}
	})
}

// A Volcano node against the real kube-apiserver, the plugin holding only
// the ServiceAccount token bound to the shipped RBAC (spec/compat.md §4-§7):
// Allocate follows Volcano's chips and writes them back, the oldest
// predicate-time wins, a pod naming an unknown chip or a request no pod
// explains is refused with nothing patched; the device-info ConfigMap,
// node labels and annotations, ManuallySeparateNPU, Events and the
// fault-code ConfigMap; the kubelet-ID -> chip map survives plugin crashes
// with and without its state file; a chip another pod holds is refused to
// a second or forged claim; and the audit log shows the shipped role is
// exactly what the plugin used.
func TestClusterVolcanoNodeWithTheShippedRBAC(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, 5*time.Minute)
	c := &cluster{ctx: ctx, topo: readTopology(t, "910-8"), node: testbed.DefaultNodeName, nodeIP: "192.0.2.10",
		m: chipMap{}, annotated: map[string]map[string]string{}, done: map[string]bool{}}
	c.cp = testbed.StartControlPlane(t, testbed.ShippedRBAC(t))
	c.admin = client(t, c.cp.AdminConfig)
	c.sa = client(t, c.cp.SAConfig)
	// An operator's own servertype: the plugin must keep it.
	createNode(ctx, t, c.admin, c.node, c.nodeIP, map[string]string{"servertype": "operator-choice"})
	createNamespace(ctx, t, c.admin, jobs)
	c.n = testbed.StartNode(t)
	c.opts = testbed.PluginOptions{
		Topology: "910-8", AscendDockerRuntime: true,
		Kubeconfig: c.cp.SAConfig, StateDir: filepath.Join(c.n.Dir, "state"),
		Flags: []string{"-volcanoType=true", fmt.Sprintf("-listWatchPeriod=%d", int(period/time.Second))},
	}
	c.starts = append(c.starts, time.Now())
	c.p = c.n.StartPlugin(t, c.opts)
	if _, err := c.n.WaitResources(ctx, "8 chips", testbed.Allocatable(ascend910, 8)); err != nil {
		t.Fatal(err)
	}

	c.step(t, "allocate-uses-volcanos-chips-and-writes-back", c.allocate)
	c.step(t, "smallest-predicate-time-wins", c.compete)
	c.step(t, "unknown-chip-and-unexplained-requests-are-refused-unpatched", c.refusals)
	c.step(t, "device-info-configmap", c.deviceInfo)
	c.step(t, "node-labels-and-annotations", c.nodeLabels)
	c.step(t, "manually-separate-npu", c.manuallySeparate)
	c.step(t, "events-about-the-node", c.events)
	c.step(t, "fault-code-configmap", c.faultCodeConfigMap)
	// After the steps that need a chip free of allocations: it takes the
	// last one.
	c.step(t, "a-chip-another-pod-holds-is-refused-and-nothing-is-lost", c.busyChips)
	c.step(t, "health-follows-the-real-chip", func(t *testing.T) {
		c.need(t, "allocate-uses-volcanos-chips-and-writes-back")
		c.faultsFollowTheMap(t, "before any restart")
	})
	c.step(t, "plugin-crash-with-the-state-file", func(t *testing.T) { c.restart(t, false) })
	c.step(t, "plugin-crash-without-the-state-file", func(t *testing.T) { c.restart(t, true) })
	c.step(t, "rbac-sufficient-and-minimal", c.rbac)
	c.step(t, "outside-the-role-is-denied", c.outsideTheRole)
}

func (c *cluster) allocate(t *testing.T) {
	chips := []string{chipName(6), chipName(7)}
	pod := volcanoPod(c.ctx, t, c.admin, "vc-a", c.node, chips, time.Now().UnixNano())
	time.Sleep(watchSettle)
	a, err := admitPod(c.ctx, c.n, pod)
	if err != nil {
		t.Fatalf("kubelet admitting %s/%s (Volcano chose %v): %v", jobs, pod.Name, chips, err)
	}
	// The patch of predicate-time comes before the answer (compat §4 item 2).
	now, err := c.admin.CoreV1().Pods(jobs).Get(c.ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := now.Annotations[predicateTime]; got != consumed {
		t.Errorf("predicate-time = %q when kubelet got the Allocate answer, want %s already (patched before answering)", got, consumed)
	}
	ids := a.Containers[0].Devices[ascend910]
	t.Logf("kubelet IDs %v, run options %+v", ids, a.Containers[0].Options)
	if got := visible(a); !equal(got, []string{"6", "7"}) {
		t.Errorf("ASCEND_VISIBLE_DEVICES = %v for kubelet IDs %v, want Volcano's chips [6 7]", got, ids)
	}
	if v, ok := a.Containers[0].Options.Envs["ASCEND_RUNTIME_OPTIONS"]; !ok || v != "" {
		t.Errorf("ASCEND_RUNTIME_OPTIONS = %q (present %v), want \"\"", v, ok)
	}
	pod, err = waitPod(c.ctx, c.admin, jobs, pod.Name, 10*time.Second, "AscendReal, kltDev and the 910 configuration written", writtenBack)
	if err != nil {
		t.Fatal(err)
	}
	c.keep(t, pod, ids, chips)
	state := filepath.Join(c.opts.StateDir, "volcano-map.json")
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(state)
		if err == nil && strings.Contains(string(data), `"`+ids[0]+`"`) && strings.Contains(string(data), `"`+ids[1]+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the state file %s does not map the kubelet IDs %v 5s after the allocation: %q, %v", state, ids, data, err)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keep checks a pod's write-back and records its kubelet-ID -> chip pairs.
func (c *cluster) keep(t *testing.T, pod *corev1.Pod, ids, chips []string) {
	t.Helper()
	for id, r := range checkWriteBack(t, c.topo, pod, c.nodeIP, ids, chips) {
		c.m[id] = r
	}
	kept := map[string]string{}
	for _, k := range []string{predicateTime, annKltDev, annAscendReal, annConfiguration} {
		kept[k] = pod.Annotations[k]
	}
	c.annotated[pod.Name] = kept
}

func (c *cluster) compete(t *testing.T) {
	c.need(t, "allocate-uses-volcanos-chips-and-writes-back")
	base := time.Now().UnixNano()
	// Created first, alphabetically first, but predicted later.
	newer := volcanoPod(c.ctx, t, c.admin, "compete-a", c.node, []string{chipName(2)}, base+int64(time.Second))
	older := volcanoPod(c.ctx, t, c.admin, "compete-b", c.node, []string{chipName(3)}, base)
	time.Sleep(watchSettle)
	a, err := admitPod(c.ctx, c.n, older)
	if err != nil {
		t.Fatalf("admitting %s: %v", older.Name, err)
	}
	if got := visible(a); !equal(got, []string{"3"}) {
		t.Fatalf("with compete-b (predicate-time %d) and compete-a (%d) waiting, the Allocate got chips %v, want [3] of the smallest predicate-time (compat §4 item 2)", base, base+int64(time.Second), got)
	}
	pod, err := waitPod(c.ctx, c.admin, jobs, older.Name, 10*time.Second, "write-back", writtenBack)
	if err != nil {
		t.Fatal(err)
	}
	c.keep(t, pod, a.Containers[0].Devices[ascend910], []string{chipName(3)})
	untouched, err := c.admin.CoreV1().Pods(jobs).Get(c.ctx, newer.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if untouched.ResourceVersion != newer.ResourceVersion {
		t.Errorf("compete-a, not chosen, was modified: annotations %v", untouched.Annotations)
	}
	a, err = admitPod(c.ctx, c.n, newer)
	if err != nil {
		t.Fatalf("admitting %s: %v", newer.Name, err)
	}
	if got := visible(a); !equal(got, []string{"2"}) {
		t.Errorf("the Allocate after compete-b was used got chips %v, want compete-a's [2]", got)
	}
	pod, err = waitPod(c.ctx, c.admin, jobs, newer.Name, 10*time.Second, "write-back", writtenBack)
	if err != nil {
		t.Fatal(err)
	}
	c.keep(t, pod, a.Containers[0].Devices[ascend910], []string{chipName(2)})
}

// resourceVersions of every pod in the jobs namespace.
func (c *cluster) resourceVersions(t *testing.T) map[string]string {
	t.Helper()
	pods, err := c.admin.CoreV1().Pods(jobs).List(c.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = p.ResourceVersion
	}
	return out
}

// pluginMessage is the plugin's own text in a refusal the device manager
// reports ("... rpc error: code = X desc = <text>").
func pluginMessage(err error) string {
	var ae *dmapi.AdmitError
	if !errors.As(err, &ae) {
		return ""
	}
	if _, desc, ok := strings.Cut(ae.Message, "desc = "); ok {
		return desc
	}
	return ae.Message
}

func (c *cluster) refusals(t *testing.T) {
	unknown := volcanoPod(c.ctx, t, c.admin, "unknown-chip", c.node, []string{"Ascend910-99"}, time.Now().UnixNano())
	time.Sleep(watchSettle)
	before := c.resourceVersions(t)
	_, err := admitPod(c.ctx, c.n, unknown)
	if err == nil {
		// Wrongly admitted: free its kubelet IDs for the later steps.
		_ = c.n.DM.Terminate(c.ctx, string(unknown.UID))
	}
	switch {
	case !refused(err):
		t.Errorf("a pod Volcano gave Ascend910-99 (no such chip here): admission err = %v, want the plugin to refuse the Allocate", err)
	case !strings.Contains(pluginMessage(err), "99"):
		t.Errorf("the refusal does not name the unknown chip Ascend910-99: %v", err)
	default:
		t.Logf("refused: %s", pluginMessage(err))
	}
	if after := c.resourceVersions(t); fmt.Sprint(after) != fmt.Sprint(before) {
		pod, _ := c.admin.CoreV1().Pods(jobs).Get(c.ctx, unknown.Name, metav1.GetOptions{})
		t.Errorf("a refused Allocate patched pods: resource versions %v -> %v; unknown-chip annotations now %v", before, after, pod.Annotations)
	}
	deletePod(c.ctx, t, c.admin, unknown)

	// Three chips: no pod asks for three.
	before = c.resourceVersions(t)
	start := time.Now()
	_, err = c.n.DM.Admit(c.ctx, dmapi.Pod{Name: "unexplained", Namespace: jobs, UID: "uid-unexplained",
		Containers: []dmapi.Container{{Name: "main", Limits: map[string]int64{ascend910: 3}}}})
	took := time.Since(start)
	if err == nil {
		_ = c.n.DM.Terminate(c.ctx, "uid-unexplained")
	}
	if !refused(err) {
		t.Errorf("an Allocate of 3 chips no pod explains: admission err = %v, want the plugin to refuse it", err)
	} else {
		t.Logf("refused after %v: %s", took.Round(time.Millisecond), pluginMessage(err))
		if pluginMessage(err) == "" {
			t.Errorf("the refusal carries no message of the plugin: %v", err)
		}
	}
	if took > podWait+5*time.Second {
		t.Errorf("the refusal took %v, want about --pod-wait-timeout (%v)", took, podWait)
	}
	if after := c.resourceVersions(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("an unexplained Allocate patched pods: resource versions %v -> %v", before, after)
	}
}

// busyChips: a second claim on a chip a running pod holds is refused, naming
// chip and holder; a forged claim (bound directly, an older predicate-time
// so it would be chosen first) cannot take a held chip nor the honest
// pod's Allocate; the holder keeps its chips and nothing leaks.
func (c *cluster) busyChips(t *testing.T) {
	c.need(t, "allocate-uses-volcanos-chips-and-writes-back")
	holder := jobs + "/vc-a"
	// After the fault steps: every chip healthy at the device manager.
	if _, err := c.n.WaitResources(c.ctx, "8 healthy chips", testbed.Allocatable(ascend910, 8)); err != nil {
		t.Fatal(err)
	}
	admitRefused := func(pod *corev1.Pod, chip string) {
		t.Helper()
		_, err := admitPod(c.ctx, c.n, pod)
		if err == nil {
			_ = c.n.DM.Terminate(c.ctx, string(pod.UID))
			t.Errorf("%s, claiming %s which %s holds, was admitted", pod.Name, chip, holder)
			return
		}
		msg := pluginMessage(err)
		if !refused(err) || !strings.Contains(msg, holder) || !strings.Contains(msg, lastField(chip)) {
			t.Errorf("%s claiming %s: err = %v, want a refusal naming the chip and %s", pod.Name, chip, err, holder)
			return
		}
		t.Logf("refused: %s", msg)
	}
	before, err := c.n.DM.Resources(c.ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Two pods claim chip 6: vc-a holds it, the second is refused.
	second := volcanoPod(c.ctx, t, c.admin, "vc-second", c.node, []string{chipName(6)}, time.Now().UnixNano())
	time.Sleep(watchSettle)
	admitRefused(second, chipName(6))
	deletePod(c.ctx, t, c.admin, second)

	// A forged claim on chip 7 (vc-a's), predicted earlier than the honest
	// pod that Volcano gave chip 5: the honest Allocate gets chip 5.
	base := time.Now().UnixNano()
	forged := volcanoPod(c.ctx, t, c.admin, "vc-forged", c.node, []string{chipName(7)}, base-int64(time.Hour))
	honest := volcanoPod(c.ctx, t, c.admin, "vc-honest", c.node, []string{chipName(5)}, base)
	time.Sleep(watchSettle)
	a, err := admitPod(c.ctx, c.n, honest)
	if err != nil {
		t.Fatalf("admitting the honest pod (Volcano chose %s) next to a forged claim: %v", chipName(5), err)
	}
	if got := visible(a); !equal(got, []string{"5"}) {
		t.Errorf("the honest pod got chips %v, want Volcano's [5] (the forged claim on held chip 7 must be passed over)", got)
	}
	pod, err := waitPod(c.ctx, c.admin, jobs, honest.Name, 10*time.Second, "write-back", writtenBack)
	if err != nil {
		t.Fatal(err)
	}
	c.keep(t, pod, a.Containers[0].Devices[ascend910], []string{chipName(5)})
	admitRefused(forged, chipName(7))
	deletePod(c.ctx, t, c.admin, forged)

	// Nothing lost: vc-a still has its kubelet IDs, the node still has its
	// eight healthy chips, and one Event names the conflict.
	resp := listPodResources(c.ctx, t, c.n)
	ids, ok := devicesOf(resp, jobs, "vc-a", "main", ascend910)
	if !ok || len(ids) != 2 {
		t.Errorf("vc-a's devices in pod-resources after the refusals: %v (found %v), want its 2", ids, ok)
	}
	after, err := c.n.DM.Resources(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(healthyIDs(after, ascend910)), len(healthyIDs(before, ascend910)); got != want {
		t.Errorf("healthy %s: %d after the refusals, %d before", ascend910, got, want)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	for {
		evs, err := c.admin.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=NPUChipConflict"})
		if err == nil && len(evs.Items) > 0 && strings.Contains(evs.Items[0].Message, holder) {
			t.Logf("Event: %s", evs.Items[0].Message)
			break
		}
		if ctx.Err() != nil {
			t.Errorf("no NPUChipConflict Event naming %s within 10s (last error %v)", holder, err)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
}
