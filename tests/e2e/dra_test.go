package e2e

// DRA mode end to end: the real plugin (`ascend-device-plugin dra`) on the
// simulator, registered through kubelet's plugin manager with kubelet's DRA
// manager, publishing to a real kube-apiserver with the shipped dra
// overlay's RBAC, admission policy and DeviceClasses, and the real
// kube-scheduler allocating claims from what it published. One control
// plane and one 910-8 node for every step, in order; a step that fails
// stops the scenario.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"tags.cncf.io/container-device-interface/pkg/cdi"

	"ascend-device-plugin/tests/e2e/internal/draapi"
	"ascend-device-plugin/tests/e2e/internal/rbacaudit"
	"ascend-device-plugin/tests/e2e/internal/soak"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// unhealthyTaint is the device taint DRA mode puts on an Unhealthy chip.
const unhealthyTaint = "npu.huawei.com/unhealthy"

// faultCodeTaint names the chip's most severe fault code, next to it.
const faultCodeTaint = "npu.huawei.com/fault-code"

func TestDRANodeWithTheShippedOverlay(t *testing.T) {
	ctx := scenario(t, 7*time.Minute)
	testbed.RequirePlugin(t)
	c := startDRACluster(ctx, t)
	const node = "dra-910"
	topo := readTopology(t, "910-8")
	c.createSchedulableNode(ctx, t, node)
	n := testbed.StartDRANode(t, c.cp, node)
	kubeconfig, tok := testbed.BoundKubeconfig(ctx, t, c.cp, node, n.Dir)
	started := time.Now()
	p := n.StartDRAPlugin(t, testbed.DRAPluginOptions{Topology: "910-8", Kubeconfig: kubeconfig})
	n.WaitRegistered(t, 30*time.Second)
	all := c.waitSlices(ctx, t, node, time.Minute, "the node's 8 chips", func(d map[string]resourcev1.Device) bool { return len(d) == 8 })
	published := time.Now()
	t.Logf("REPORT dra start to slices published: %v (plugin start to a complete pool of 8 chips)", published.Sub(started).Round(time.Millisecond))

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	reqs, cons := ringClaim()
	var ring []string
	var ringClaimUID string

	step("slices match the simulated node", func(t *testing.T) {
		slices := c.nodeSlices(ctx, t, node)
		nodeObj, err := c.admin.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range slices {
			if s.Spec.Pool.Name != node || s.Spec.NodeName == nil || *s.Spec.NodeName != node {
				t.Errorf("slice %s: pool %q, node %v; want both %s", s.Name, s.Spec.Pool.Name, s.Spec.NodeName, node)
			}
			if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "Node" || s.OwnerReferences[0].UID != nodeObj.UID {
				t.Errorf("slice %s: owner references %v, want the Node %s (uid %s)", s.Name, s.OwnerReferences, node, nodeObj.UID)
			}
		}
		for _, card := range topo.Cards {
			for _, chip := range card.Chips {
				name := fmt.Sprintf("npu-%d", chip.PhyID)
				d, ok := all[name]
				if !ok {
					t.Errorf("no device %s for chip phy %d; devices %v", name, chip.PhyID, deviceNames(all))
					continue
				}
				checkInt := func(attr string, want int64) {
					if got, ok := intAttr(d, attr); !ok || got != want {
						t.Errorf("%s: %s = %v (present %v), want %d", name, attr, got, ok, want)
					}
				}
				checkString := func(attr, want string) {
					if got, ok := stringAttr(d, attr); !ok || got != want {
						t.Errorf("%s: %s = %q (present %v), want %q", name, attr, got, ok, want)
					}
				}
				checkString("deviceType", "Ascend910")
				checkString("type", "chip")
				checkString("chipName", chip.ChipName)
				checkInt("physicId", int64(chip.PhyID))
				checkInt("hccsGroup", int64(chip.PhyID/4))
				checkInt("hccsGroupSize", 4)
				if got, ok := d.Capacity["aicore"]; !ok || got.Value.Value() != int64(chip.AICore) {
					t.Errorf("%s: capacity aicore %v, want %d", name, got.Value.String(), chip.AICore)
				}
				want := resource.MustParse(strconv.Itoa(chip.Memory.HBMMB) + "Mi")
				if got, ok := d.Capacity["memory"]; !ok || got.Value.Cmp(want) != 0 {
					t.Errorf("%s: capacity memory %v, want %v", name, got.Value.String(), want.String())
				}
				if len(d.Taints) != 0 {
					t.Errorf("%s: taints %v on a healthy chip", name, d.Taints)
				}
			}
		}
		if len(all) != 8 {
			t.Errorf("%d devices published, the simulated node has 8 chips: %v", len(all), deviceNames(all))
		}
		for phy, want := range pciBusIDs(t, "910-8") {
			name := fmt.Sprintf("npu-%d", phy)
			if got, ok := stringAttr(all[name], "resource.kubernetes.io/pciBusID"); !ok || got != want {
				t.Errorf("%s: resource.kubernetes.io/pciBusID = %q (present %v), want %q", name, got, ok, want)
			}
		}
	})

	step("the start stays within the request budget", func(t *testing.T) {
		// docs/dra.md: GET its Node, LIST and WATCH its slices, CREATE
		// one slice (8 devices fit one), LIST and WATCH the fault table and
		// the device-info ConfigMap, CREATE and UPDATE the latter once.
		events, err := rbacaudit.ReadLog(c.cp.AuditLog)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int64{}
		for _, e := range requestsBy(events, tok.CredentialID) {
			if !e.RequestReceivedTimestamp.After(published) {
				counts[e.Verb+" "+e.ObjectRef.Resource]++
			}
		}
		budget := map[string]int64{"get nodes": 1, "list resourceslices": 1, "watch resourceslices": 1, "create resourceslices": 1,
			"list configmaps": 2, "watch configmaps": 2, "create configmaps": 1, "update configmaps": 1}
		for what, n := range counts {
			if n > budget[what] {
				t.Errorf("the start made %d %s requests, the budget allows %d", n, what, budget[what])
			}
		}
		t.Logf("REPORT dra start requests: %s", soak.Verbs(counts))
	})

	step("a ring claim is allocated on one HCCS ring and prepared to exactly its chips", func(t *testing.T) {
		claim := c.createClaim(ctx, t, "ring-a", reqs, cons)
		ringClaimUID = string(claim.UID)
		pod := c.createClaimPod(ctx, t, "ring-a", "ring-a")
		_, claims := c.waitScheduled(ctx, t, pod, time.Minute)
		ring = allocated(claims[0])
		groups := map[int64]bool{}
		for _, name := range ring {
			g, _ := intAttr(all[name], "hccsGroup")
			groups[g] = true
		}
		if len(ring) != 4 || len(groups) != 1 {
			t.Fatalf("ring claim got %v (groups %v), want 4 chips of one hccsGroup", ring, groups)
		}
		prepared, err := n.Manager.Prepare(ctx, draNamespace, "ring-a")
		if err != nil {
			t.Fatalf("kubelet's DRA manager preparing the pod: %v", err)
		}
		names := prepared.Containers["main"]
		if got, want := resolveCDI(t, n.CDIDir, names), davinciOf(ring); !slices.Equal(got, want) {
			t.Errorf("CDI names %v resolve to device nodes %v, want exactly %v", names, got, want)
		}
		if len(names) != len(ring) || len(dedup(names)) != len(names) {
			t.Errorf("CDI names %v: want one per chip, no duplicates (%d chips)", names, len(ring))
		}
		if files := cdiFilesOf(t, n.CDIDir, ringClaimUID); len(files) == 0 {
			t.Errorf("no CDI spec file in %s names claim %s", n.CDIDir, ringClaimUID)
		}
	})

	step("a claim written for Huawei's driver matches", func(t *testing.T) {
		// Huawei's class and its two attributes only (deviceType, physicId).
		c.createClaim(ctx, t, "huawei", []claimRequest{{name: "npu", class: testbed.DRADriver, count: 2, selectors: []string{
			`device.attributes["npu.huawei.com"].deviceType == "Ascend910" && device.attributes["npu.huawei.com"].physicId >= 0`,
		}}}, []resourcev1.DeviceConstraint{{Requests: []string{"npu"}, MatchAttribute: ptr.To(resourcev1.FullyQualifiedName("npu.huawei.com/deviceType"))}})
		pod := c.createClaimPod(ctx, t, "huawei", "huawei")
		bound, claims := c.waitScheduled(ctx, t, pod, time.Minute)
		got := allocated(claims[0])
		if len(got) != 2 || slices.ContainsFunc(got, func(d string) bool { return slices.Contains(ring, d) }) {
			t.Errorf("Huawei-style claim got %v, want 2 chips outside the ring %v", got, ring)
		}
		c.release(ctx, t, bound)
	})

	free := minusStrings(deviceNames(all), ring)
	faulty := free[0]
	faultyPhy := strings.TrimPrefix(faulty, "npu-")
	step("a fault taints the chip and the next claims avoid it", func(t *testing.T) {
		p.Sim(t, "fault", "raise", "--phy", faultyPhy, "--code", "80E01801", "--severity", "2")
		c.waitSlices(ctx, t, node, 30*time.Second, faulty+" tainted "+unhealthyTaint, func(d map[string]resourcev1.Device) bool {
			return hasTaint(d[faulty], unhealthyTaint)
		})
		// The only free ring holds the faulty chip: no ring to give.
		c.createClaim(ctx, t, "ring-b", reqs, cons)
		ringB := c.createClaimPod(ctx, t, "ring-b", "ring-b")
		c.waitUnschedulable(ctx, t, ringB, time.Minute)
		// The chip by name: refused without a toleration, given with one.
		only := `device.attributes["npu.huawei.com"].physicId == ` + faultyPhy
		c.createClaim(ctx, t, "faulty", []claimRequest{{name: "npu", class: testbed.DRADriver, count: 1, selectors: []string{only}}}, nil)
		c.waitUnschedulable(ctx, t, c.createClaimPod(ctx, t, "faulty", "faulty"), time.Minute)
		c.createClaim(ctx, t, "diagnose", []claimRequest{{name: "npu", class: testbed.DRADriver, count: 1, selectors: []string{only},
			tolerations: []resourcev1.DeviceToleration{
				{Key: unhealthyTaint, Operator: resourcev1.DeviceTolerationOpExists},
				{Key: faultCodeTaint, Operator: resourcev1.DeviceTolerationOpExists},
			}}}, nil)
		diag, claims := c.waitScheduled(ctx, t, c.createClaimPod(ctx, t, "diagnose", "diagnose"), time.Minute)
		if got := allocated(claims[0]); !slices.Equal(got, []string{faulty}) {
			t.Errorf("the tolerating claim got %v, want %s", got, faulty)
		}
		c.release(ctx, t, diag)
		// The pod waiting for the faulty chip alone would race ring-b for
		// it once it recovers.
		if err := c.admin.CoreV1().Pods(draNamespace).Delete(ctx, "faulty", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// Recovery lifts the taint; the waiting ring claim is then placed.
		p.Sim(t, "fault", "clear", "--phy", faultyPhy)
		c.waitSlices(ctx, t, node, 30*time.Second, faulty+" untainted", func(d map[string]resourcev1.Device) bool {
			return len(d[faulty].Taints) == 0
		})
		bound, claims := c.waitScheduled(ctx, t, ringB, time.Minute)
		if got := allocated(claims[0]); !slices.Equal(got, free) {
			t.Errorf("ring-b got %v after the recovery, want the free ring %v", got, free)
		}
		c.release(ctx, t, bound)
	})

	step("a kubelet restart deletes the slices and they come back", func(t *testing.T) {
		w, err := c.admin.ResourceV1().ResourceSlices().Watch(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector(resourcev1.ResourceSliceSelectorNodeName, node).String(),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		n.StopKubelet(t)
		n.StartKubelet(t)
		deleted, added := 0, 0
		timeout := time.After(time.Minute)
		for deleted == 0 || added == 0 {
			select {
			case ev := <-w.ResultChan():
				switch ev.Type {
				case watch.Deleted:
					deleted++
				case watch.Added:
					if deleted > 0 {
						added++
					}
				}
			case <-timeout:
				t.Fatalf("within a minute of kubelet's restart: %d slices deleted, %d created after", deleted, added)
			}
		}
		n.WaitRegistered(t, 30*time.Second)
		c.waitSlices(ctx, t, node, 30*time.Second, "the 8 chips again", func(d map[string]resourcev1.Device) bool { return len(d) == 8 })
	})

	step("a driver restart keeps the prepared claim", func(t *testing.T) {
		before := cdiFilesOf(t, n.CDIDir, ringClaimUID)
		n.KillDRAPlugin(p)
		p = n.StartDRAPlugin(t, testbed.DRAPluginOptions{Topology: "910-8", Kubeconfig: kubeconfig})
		n.WaitRegistered(t, 30*time.Second)
		c.waitSlices(ctx, t, node, 30*time.Second, "the 8 chips", func(d map[string]resourcev1.Device) bool { return len(d) == 8 })
		if after := cdiFilesOf(t, n.CDIDir, ringClaimUID); !slices.Equal(after, before) || len(after) == 0 {
			t.Errorf("the claim's CDI spec files were %v before the restart, %v after", before, after)
		}
		// kubelet's gRPC connection to the killed driver may still be in
		// its reconnect back-off; kubelet retries a failed prepare on the
		// pod's next sync, and so does this (a second apart, 30 s at most).
		var prepared draapi.Prepared
		var err error
		for try := 1; ; try++ {
			if prepared, err = n.Manager.Prepare(ctx, draNamespace, "ring-a"); err == nil {
				t.Logf("prepared again after the driver's restart at try %d", try)
				break
			}
			if try == 30 {
				t.Fatalf("prepare after the driver's restart: %v", err)
			}
			time.Sleep(time.Second)
		}
		if got := resolveCDI(t, n.CDIDir, prepared.Containers["main"]); !slices.Equal(got, davinciOf(ring)) {
			t.Errorf("after the driver's restart the CDI names resolve to %v, want %v", got, davinciOf(ring))
		}
	})

	step("unprepare removes what prepare made", func(t *testing.T) {
		if err := n.Manager.Unprepare(ctx, draNamespace, "ring-a"); err != nil {
			t.Fatal(err)
		}
		if files := cdiFilesOf(t, n.CDIDir, ringClaimUID); len(files) != 0 {
			t.Errorf("CDI spec files of the unprepared claim left: %v", files)
		}
		if left := filesNaming(t, n.StateDir, ringClaimUID); len(left) != 0 {
			t.Errorf("the plugin's state still names the unprepared claim: %v", left)
		}
	})

	step("a stale slice in the node's pool is deleted", func(t *testing.T) {
		// As a previous instance could leave one behind: same driver,
		// node and pool, an older generation, a device that does not exist.
		stale := &resourcev1.ResourceSlice{
			ObjectMeta: metav1.ObjectMeta{GenerateName: node + "-stale-"},
			Spec: resourcev1.ResourceSliceSpec{
				Driver: testbed.DRADriver, NodeName: ptr.To(node),
				Pool:    resourcev1.ResourcePool{Name: node, Generation: 0, ResourceSliceCount: 1},
				Devices: []resourcev1.Device{{Name: "npu-99"}},
			},
		}
		created, err := c.admin.ResourceV1().ResourceSlices().Create(ctx, stale, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := c.admin.ResourceV1().ResourceSlices().Get(ctx, created.Name, metav1.GetOptions{}); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stale slice %s of the node's pool is still there after 30 s", created.Name)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.waitSlices(ctx, t, node, 10*time.Second, "the 8 chips", func(d map[string]resourcev1.Device) bool { return len(d) == 8 })
	})

	step("prepare latency (benchmark)", func(t *testing.T) {
		// Prepare and unprepare one 1-chip claim through kubelet's DRA
		// manager: its claim GET, the gRPC call, the driver's CDI write.
		c.createClaim(ctx, t, "bench", []claimRequest{{name: "npu", class: testbed.DRADriver, count: 1}}, nil)
		c.waitScheduled(ctx, t, c.createClaimPod(ctx, t, "bench", "bench"), time.Minute)
		var took []time.Duration
		for range 40 {
			t0 := time.Now()
			if _, err := n.Manager.Prepare(ctx, draNamespace, "bench"); err != nil {
				t.Fatal(err)
			}
			took = append(took, time.Since(t0))
			if err := n.Manager.Unprepare(ctx, draNamespace, "bench"); err != nil {
				t.Fatal(err)
			}
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		t.Logf("REPORT dra prepare latency through kubelet's DRA manager (n=%d, 1 chip): p50 %v, p99 %v",
			len(took), took[len(took)/2].Round(10*time.Microsecond), took[len(took)*99/100].Round(10*time.Microsecond))
	})

	step("idle: the request budget and RSS", func(t *testing.T) {
		// A quiet minute: nothing but the slice watch may be open.
		from := time.Now()
		time.Sleep(time.Minute)
		events, err := rbacaudit.ReadLog(c.cp.AuditLog)
		if err != nil {
			t.Fatal(err)
		}
		mine := requestsBy(events, tok.CredentialID)
		var idle []string
		counts := map[string]int64{}
		for _, e := range mine {
			counts[e.Verb+" "+e.ObjectRef.Resource]++
			if e.RequestReceivedTimestamp.After(from) && e.Verb != "watch" {
				idle = append(idle, rbacaudit.Describe(e))
			}
		}
		if len(idle) != 0 {
			t.Errorf("requests in an idle minute (docs/dra.md's budget allows none but watch renewals): %v", idle)
		}
		t.Logf("REPORT dra requests of the whole scenario by verb: %s", soak.Verbs(counts))
		auditOverlay(t, "dra", c.cp, events, tok.CredentialID)
		rss, err := rssOf(p.Proc.Pid())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("REPORT dra idle RSS: %.1f MB (910-8, after the scenario)", float64(rss)/1e6)
	})

}

// isPartition: a device that is not a whole chip and consumes counters
// (a vNPU template carved out of a chip's AI cores and memory).
func isPartition(d resourcev1.Device) bool {
	kind, _ := stringAttr(d, "type")
	return kind != "chip" && len(d.ConsumesCounters) > 0
}

// resolveCDI resolves CDI device names with the CDI library's cache over
// dir, as a container runtime does, and answers the device nodes their
// device-level edits give (sorted). Unknown names fail the test.
func resolveCDI(t *testing.T, dir string, names []string) []string {
	t.Helper()
	cache, err := cdi.NewCache(cdi.WithSpecDirs(dir), cdi.WithAutoRefresh(false))
	if err != nil {
		t.Fatalf("the CDI cache over %s: %v", dir, err)
	}
	if err := cache.Refresh(); err != nil {
		t.Fatalf("the CDI cache refusing the spec files in %s: %v", dir, err)
	}
	var nodes []string
	for _, name := range names {
		dev := cache.GetDevice(name)
		if dev == nil {
			t.Fatalf("CDI name %s resolves to nothing in %s (known: %v)", name, dir, cache.ListDevices())
		}
		for _, dn := range dev.ContainerEdits.DeviceNodes {
			nodes = append(nodes, dn.Path)
		}
	}
	sort.Strings(nodes)
	return nodes
}

// davinciOf are the device nodes of the chips named npu-<phy>.
func davinciOf(devices []string) []string {
	var out []string
	for _, d := range devices {
		out = append(out, "/dev/davinci"+strings.TrimPrefix(d, "npu-"))
	}
	sort.Strings(out)
	return out
}

// cdiFilesOf are the spec files in dir whose name or content names uid.
func cdiFilesOf(t *testing.T, dir, uid string) []string {
	t.Helper()
	return filesNaming(t, dir, uid)
}

// filesNaming are the files under dir whose name or content holds s.
func filesNaming(t *testing.T, dir, s string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&os.ModeSocket != 0 {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), s) || strings.Contains(string(data), s) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func hasTaint(d resourcev1.Device, key string) bool {
	return slices.ContainsFunc(d.Taints, func(taint resourcev1.DeviceTaint) bool {
		return taint.Key == key && taint.Effect == resourcev1.DeviceTaintEffectNoSchedule
	})
}

func dedup(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return slices.Compact(out)
}

func minusStrings(a, b []string) []string {
	return slices.DeleteFunc(slices.Clone(a), func(s string) bool { return slices.Contains(b, s) })
}

// rssOf is a process's resident set size in bytes (/proc/PID/status VmRSS).
func rssOf(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// pciBusIDs are the chips' PCI addresses in a simulator topology, in the
// standard attribute's form DDDD:BB:DD.F, by physical ID.
func pciBusIDs(t *testing.T, name string) map[int]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "ffi", "topologies", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var topo struct {
		Cards []struct {
			Chips []struct {
				PhyID int `json:"phy_id"`
				PCIe  struct {
					Domain                int
					Bus, Device, Function string
				} `json:"pcie"`
			} `json:"chips"`
		} `json:"cards"`
	}
	if err := json.Unmarshal(data, &topo); err != nil {
		t.Fatal(err)
	}
	hex := func(s string) int64 {
		v, err := strconv.ParseInt(strings.TrimPrefix(s, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("%s: %q is not a hex number", name, s)
		}
		return v
	}
	out := map[int]string{}
	for _, card := range topo.Cards {
		for _, chip := range card.Chips {
			p := chip.PCIe
			out[chip.PhyID] = fmt.Sprintf("%04x:%02x:%02x.%x", p.Domain, hex(p.Bus), hex(p.Device), hex(p.Function))
		}
	}
	return out
}

// TestDRAPartitionedChipIsNeverGivenWholeAndSlicedAtOnce: a 310P node (no
// static vNPU) with vNPU templates published as partitionable devices: a
// whole chip and its partitions consume one counter set, so the scheduler
// gives a chip whole or sliced, never both.
func TestDRAPartitionedChipIsNeverGivenWholeAndSlicedAtOnce(t *testing.T) {
	ctx := scenario(t, 4*time.Minute)
	testbed.RequirePlugin(t)
	c := startDRACluster(ctx, t)
	const node310p = "dra-310p"
	c.createSchedulableNode(ctx, t, node310p)
	m := testbed.StartDRANode(t, c.cp, node310p)
	kc, _ := testbed.BoundKubeconfig(ctx, t, c.cp, node310p, m.Dir)
	m.StartDRAPlugin(t, testbed.DRAPluginOptions{Topology: "310p-mixed", Kubeconfig: kc, Flags: []string{"--vnpu-partitions"}})
	m.WaitRegistered(t, 30*time.Second)
	devices := c.waitSlices(ctx, t, node310p, time.Minute, "chips and their partitions", func(d map[string]resourcev1.Device) bool {
		return slices.ContainsFunc(deviceNames(d), func(n string) bool { return isPartition(d[n]) })
	})
	var phy int64 = -1
	for _, name := range deviceNames(devices) {
		if d := devices[name]; isPartition(d) {
			phy, _ = intAttr(d, "physicId")
			break
		}
	}
	onChip := fmt.Sprintf(`device.attributes["npu.huawei.com"].physicId == %d && device.attributes["npu.huawei.com"].deviceType == "Ascend310P"`, phy)
	isChip := `device.attributes["npu.huawei.com"].type == "chip"`
	whole := []claimRequest{{name: "npu", class: testbed.DRADriver, count: 1, selectors: []string{onChip, isChip}}}
	// A slice through the shipped vNPU class.
	slice := []claimRequest{{name: "npu", class: "vnpu." + testbed.DRADriver, count: 1, selectors: []string{onChip}}}
	c.createClaim(ctx, t, "whole", whole, nil)
	wholePod, _ := c.waitScheduled(ctx, t, c.createClaimPod(ctx, t, "whole", "whole"), time.Minute)
	c.createClaim(ctx, t, "slice", slice, nil)
	slicePod := c.createClaimPod(ctx, t, "slice", "slice")
	c.waitUnschedulable(ctx, t, slicePod, time.Minute)
	// The chip given back: the slice is placed, and the whole chip is
	// then refused.
	c.release(ctx, t, wholePod)
	_, claims := c.waitScheduled(ctx, t, slicePod, time.Minute)
	if got := allocated(claims[0]); len(got) != 1 || !isPartition(devices[got[0]]) {
		t.Errorf("the slice claim got %v, want one partition of chip %d", got, phy)
	}
	c.createClaim(ctx, t, "whole-again", whole, nil)
	c.waitUnschedulable(ctx, t, c.createClaimPod(ctx, t, "whole-again", "whole-again"), time.Minute)
}
