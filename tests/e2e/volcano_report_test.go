package e2e

// Steps of TestClusterVolcanoNodeWithTheShippedRBAC about what the plugin
// reports to the cluster and reads from it: the device-info ConfigMap,
// node labels and annotations, ManuallySeparateNPU, Events, the fault-code
// ConfigMap.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func (c *cluster) deviceInfo(t *testing.T) {
	free := minus(allChips(8), c.m.reals()...)
	d, err := waitDeviceInfo(c.ctx, c.admin, c.node, 10*time.Second,
		fmt.Sprintf("free chips = %v (all but Volcano's chips %v; kubelet IDs %v stand for those), none unhealthy", free, c.m.reals(), c.m),
		func(d deviceInfo) bool { return equal(d.list(""), free) && len(d.list("-Unhealthy")) == 0 })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DeviceInfoCfg %s", d.cm.Data["DeviceInfoCfg"])
	if age := time.Since(time.Unix(d.cfg.DeviceInfo.UpdateTime, 0)); age < -time.Minute || age > 10*time.Minute {
		t.Errorf("UpdateTime %d is %v away from now, want unix seconds of the last write", d.cfg.DeviceInfo.UpdateTime, age)
	}
	if got := d.cm.Data["ManuallySeparateNPU"]; got != "" {
		t.Errorf("ManuallySeparateNPU = %q on a node nobody isolated chips of, want \"\"", got)
	}
}

func (c *cluster) nodeLabels(t *testing.T) {
	node, err := c.admin.CoreV1().Nodes().Get(c.ctx, c.node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chip := c.topo.Cards[0].Chips[0]
	want := map[string]string{
		"accelerator":                      "huawei-Ascend910",
		"node.kubernetes.io/npu.chip.name": chip.ChipName,
		"servertype":                       "operator-choice", // the operator's, kept
		"huawei.com/driver.version":        c.topo.DCMIVersion,
		"mind-cluster/npu-chip-memory":     fmt.Sprintf("%dG", chip.Memory.HBMMB/1024),
	}
	for k, v := range want {
		if got, ok := node.Labels[k]; !ok || got != v {
			t.Errorf("node label %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	var base map[string]struct {
		IP string `json:"IP"`
	}
	if err := json.Unmarshal([]byte(node.Annotations["baseDeviceInfos"]), &base); err != nil {
		t.Errorf("node annotation baseDeviceInfos = %q: %v", node.Annotations["baseDeviceInfos"], err)
	}
	for phy := 0; phy < 8; phy++ {
		if got, want := base[chipName(phy)].IP, c.topo.deviceIP(phy); got != want {
			t.Errorf("baseDeviceInfos[%s].IP = %q, want %q", chipName(phy), got, want)
		}
	}
	for _, k := range []string{"superPodID", "serverIndex", "serverType"} {
		if _, ok := node.Annotations[k]; !ok {
			t.Errorf("node annotation %s missing (annotations %v)", k, node.Annotations)
		}
	}
	t.Logf("labels %v; annotations superPodID=%q serverIndex=%q serverType=%q", node.Labels,
		node.Annotations["superPodID"], node.Annotations["serverIndex"], node.Annotations["serverType"])
}

// raise injects faultCode on a chip; it is cleared when the step ends, so
// a failed step leaves no fault to the next.
func (c *cluster) raise(t *testing.T, phy string) {
	t.Helper()
	c.p.Sim(t, "fault", "raise", "--phy", phy, "--code", faultCode, "--severity", "2")
	t.Cleanup(func() {
		if t.Failed() {
			c.p.Sim(t, "fault", "clear", "--phy", phy)
		}
	})
}

// waitHealth waits (healthLimit at most) until the device manager's
// healthy kubelet IDs are exactly want, and logs how long it took.
func (c *cluster) waitHealth(t *testing.T, what string, want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, healthLimit)
	defer cancel()
	start := time.Now()
	if _, err := c.n.WaitResources(ctx, what, healthyExactly(ascend910, want)); err != nil {
		t.Fatalf("%v\nwant healthy %v; map kubelet ID -> chip %v", err, want, c.m)
	}
	t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
}

func (c *cluster) manuallySeparate(t *testing.T) {
	chip, ok := c.m.unused(8)
	if !ok {
		t.Fatalf("no chip is free of allocations (map %v)", c.m)
	}
	if err := setManuallySeparated(c.ctx, c.admin, c.node, chip); err != nil {
		t.Fatalf("operator writing ManuallySeparateNPU=%s: %v", chip, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			_ = setManuallySeparated(c.ctx, c.admin, c.node, "")
		}
	})
	c.waitHealth(t, chip+" unhealthy after the operator isolated it", minus(allChips(8), chip))
	free := minus(allChips(8), append(c.m.reals(), chip)...)
	if _, err := waitDeviceInfo(c.ctx, c.admin, c.node, 10*time.Second,
		fmt.Sprintf("%s in -Unhealthy, free = %v, ManuallySeparateNPU still the operator's %q", chip, free, chip),
		func(d deviceInfo) bool {
			return equal(d.list("-Unhealthy"), []string{chip}) && equal(d.list(""), free) && d.cm.Data["ManuallySeparateNPU"] == chip
		}); err != nil {
		t.Fatal(err)
	}
	if err := setManuallySeparated(c.ctx, c.admin, c.node, ""); err != nil {
		t.Fatalf("operator clearing ManuallySeparateNPU: %v", err)
	}
	c.waitHealth(t, chip+" healthy after the operator removed it", allChips(8))
	free = minus(allChips(8), c.m.reals()...)
	if _, err := waitDeviceInfo(c.ctx, c.admin, c.node, 10*time.Second,
		fmt.Sprintf("no unhealthy chip, free = %v, ManuallySeparateNPU still \"\"", free),
		func(d deviceInfo) bool {
			return len(d.list("-Unhealthy")) == 0 && equal(d.list(""), free) && d.cm.Data["ManuallySeparateNPU"] == ""
		}); err != nil {
		t.Fatal(err)
	}
}

// nodeEvent waits (10 s at most) for a core/v1 Event about the node that
// mentions chip, created at or after since and not in skip. It looks in
// every namespace: the API server takes an Event about a cluster-scoped
// object in "default" (and, with eventTime set, in "kube-system") only.
func (c *cluster) nodeEvent(t *testing.T, chip string, since time.Time, skip map[types.UID]bool, what string) corev1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	selector := "involvedObject.kind=Node,involvedObject.name=" + c.node
	for {
		list, err := c.admin.CoreV1().Events("").List(c.ctx, metav1.ListOptions{FieldSelector: selector})
		if err == nil {
			for _, e := range list.Items {
				if !skip[e.UID] && strings.Contains(e.Message, chip) && !e.CreationTimestamp.Time.Before(since.Truncate(time.Second)) {
					return e
				}
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			if list != nil {
				for _, e := range list.Items {
					seen = append(seen, e.Namespace+" "+e.Reason+": "+e.Message)
				}
			}
			t.Fatalf("no Event about Node %s mentioning %s (%s) within 10s; events about the node: %q (err %v)", c.node, chip, what, seen, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *cluster) events(t *testing.T) {
	chip, ok := c.m.unused(8)
	if !ok {
		t.Fatalf("no chip is free of allocations (map %v)", c.m)
	}
	phy := strconv.Itoa(phyOf(t, chip))
	start := time.Now()
	c.raise(t, phy)
	c.waitHealth(t, chip+" unhealthy after a fault", minus(allChips(8), chip))
	down := c.nodeEvent(t, chip, start, nil, "turned Unhealthy")
	t.Logf("event in %s, %s/%s: %s", down.Namespace, down.Type, down.Reason, down.Message)
	start = time.Now()
	c.p.Sim(t, "fault", "clear", "--phy", phy)
	c.waitHealth(t, chip+" healthy after the fault cleared", allChips(8))
	up := c.nodeEvent(t, chip, start, map[types.UID]bool{down.UID: true}, "recovered")
	t.Logf("event in %s, %s/%s: %s", up.Namespace, up.Type, up.Reason, up.Message)
	if up.Reason == down.Reason {
		t.Errorf("the recovery event has the reason of the fault event (%q); want distinct reasons (e.g. NPUUnhealthy / NPURecovered)", up.Reason)
	}
}

// faultTable is a faultCode.json listing code under key (NotHandleFaultCodes,
// RestartNPUCodes, ...) and nothing else.
func faultTable(key, code string) string {
	keys := []string{"NotHandleFaultCodes", "RestartRequestCodes", "RestartBusinessCodes", "FreeRestartNPUCodes",
		"RestartNPUCodes", "SeparateNPUCodes", "PreSeparateNPUCodes", "SubHealthFaultCodes"}
	table := map[string][]string{}
	for _, k := range keys {
		table[k] = []string{}
	}
	table[key] = []string{code}
	data, _ := json.Marshal(table)
	return string(data)
}

func (c *cluster) setFaultConfig(t *testing.T, content string) {
	t.Helper()
	cms := c.admin.CoreV1().ConfigMaps("kube-system")
	cm, err := cms.Get(c.ctx, faultConfig, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: faultConfig, Namespace: "kube-system"}, Data: map[string]string{"faultCode.json": content}}
		_, err = cms.Create(c.ctx, cm, metav1.CreateOptions{})
	} else if err == nil {
		cm.Data = map[string]string{"faultCode.json": content}
		_, err = cms.Update(c.ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("operator writing kube-system/%s: %v", faultConfig, err)
	}
}

func (c *cluster) faultCodeConfigMap(t *testing.T) {
	chip, ok := c.m.unused(8)
	if !ok {
		t.Fatalf("no chip is free of allocations (map %v)", c.m)
	}
	phy := strconv.Itoa(phyOf(t, chip))
	c.raise(t, phy)
	c.waitHealth(t, chip+" unhealthy with "+faultCode+" (built-in table)", minus(allChips(8), chip))
	// Whatever happens, later steps need a table that grades the code
	// Unhealthy again.
	t.Cleanup(func() {
		if t.Failed() {
			c.setFaultConfig(t, faultTable("RestartNPUCodes", faultCode))
		}
	})

	c.setFaultConfig(t, faultTable("NotHandleFaultCodes", faultCode))
	c.waitHealth(t, chip+" healthy once the operator's table makes "+faultCode+" NotHandleFault", allChips(8))

	c.setFaultConfig(t, `{"NotHandleFaultCodes": [`)
	hold := time.Now().Add(2*period + time.Second)
	for time.Now().Before(hold) {
		r, err := c.n.DM.Resources(c.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := healthyIDs(r, ascend910); !equal(got, allChips(8)) {
			t.Fatalf("after the operator wrote a malformed faultCode.json the healthy chips became %v; want the last good table kept (%s NotHandleFault, every chip healthy)", got, faultCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The operator grades it RestartNPU: Unhealthy again.
	c.setFaultConfig(t, faultTable("RestartNPUCodes", faultCode))
	c.waitHealth(t, chip+" unhealthy again once the operator's table makes "+faultCode+" RestartNPU", minus(allChips(8), chip))
	c.p.Sim(t, "fault", "clear", "--phy", phy)
	c.waitHealth(t, chip+" healthy after the fault cleared", allChips(8))
}
