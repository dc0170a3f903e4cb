package e2e

// Steps of TestClusterVolcanoNodeWithTheShippedRBAC about the kubelet-ID ->
// chip map: health follows the real chip, before and after plugin crashes.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// faultsFollowTheMap raises faults that only the kubelet-ID -> chip map
// explains and checks every kubelet ID reports the health of its real chip
// (compat §4 item 4), steadily, then clears them.
func (c *cluster) faultsFollowTheMap(t *testing.T, when string) {
	t.Helper()
	faults := c.m.discriminatingFaults()
	if len(faults) == 0 {
		t.Fatalf("kubelet chose the same IDs as Volcano's chips (map %v): the map cannot be told from the names", c.m)
	}
	// One faulty chip costs exactly one kubelet ID: the one reporting it.
	reported := c.m.reported(8)
	var want []string
	for _, id := range allChips(8) {
		if !strings.Contains(","+strings.Join(faults, ",")+",", ","+reported[id]+",") {
			want = append(want, id)
		}
	}
	if got := 8 - len(want); got != len(faults) {
		t.Fatalf("%s: faults on %v would cost %d kubelet IDs (reported %v); each chip is reported by exactly one", when, faults, got, reported)
	}
	for _, f := range faults {
		c.raise(t, strconv.Itoa(phyOf(t, f)))
	}
	what := fmt.Sprintf("%s: faults on %v, kubelet IDs healthy exactly %v (map %v)", when, faults, want, c.m)
	c.waitHealth(t, what, want)
	// Steady: one more poll period must not move it.
	time.Sleep(period + 500*time.Millisecond)
	r, err := c.n.DM.Resources(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := healthyIDs(r, ascend910); !equal(got, want) {
		t.Errorf("%s: a poll period later the healthy kubelet IDs are %v", what, got)
	}
	for _, f := range faults {
		c.p.Sim(t, "fault", "clear", "--phy", strconv.Itoa(phyOf(t, f)))
	}
	c.waitHealth(t, when+": every kubelet ID healthy after the faults cleared", allChips(8))
}

// restart crashes the plugin (SIGKILL) and starts it again, with or
// without its state file; the map must come back (from the file, or from
// pod-resources List and the pods' AscendReal), write-backs stay as they
// were, and the device-info ConfigMap keeps Volcano's chips out of the
// free list.
func (c *cluster) restart(t *testing.T, deleteState bool) {
	c.need(t, "allocate-uses-volcanos-chips-and-writes-back")
	state := filepath.Join(c.opts.StateDir, "volcano-map.json")
	if _, err := os.Stat(state); err != nil {
		t.Errorf("state file before the crash: %v", err)
	}
	c.n.KillPlugin(c.p)
	if deleteState {
		if err := os.Remove(state); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	c.starts = append(c.starts, time.Now())
	c.p = c.n.StartPlugin(t, c.opts)
	if _, err := c.n.WaitResources(c.ctx, "8 healthy chips after the restart", testbed.Allocatable(ascend910, 8)); err != nil {
		t.Fatal(err)
	}
	when := "after a crash, state file kept"
	if deleteState {
		when = "after a crash, state file deleted (map from pod-resources List + AscendReal)"
	}
	c.faultsFollowTheMap(t, when)
	free := minus(allChips(8), c.m.reals()...)
	if _, err := waitDeviceInfo(c.ctx, c.admin, c.node, 10*time.Second, fmt.Sprintf("%s: free chips = %v", when, free),
		func(d deviceInfo) bool { return equal(d.list(""), free) && len(d.list("-Unhealthy")) == 0 }); err != nil {
		t.Error(err)
	}
	for name, want := range c.annotated {
		pod, err := c.admin.CoreV1().Pods(jobs).Get(c.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if pod.Annotations[k] != v {
				t.Errorf("%s: pod %s annotation %s changed from %q to %q", when, name, k, v, pod.Annotations[k])
			}
		}
	}
}
