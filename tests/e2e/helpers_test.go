package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// scenario gives a test its own deadline (per-scenario timeout) bounded by
// go test's -timeout.
func scenario(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(limit)
	if d, ok := t.Deadline(); ok && d.Add(-10*time.Second).Before(deadline) {
		deadline = d.Add(-10 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// pod builds a one-container pod asking n of resource.
func pod(name, resource string, n int64) dmapi.Pod {
	return dmapi.Pod{
		Name: name, UID: "uid-" + name,
		Containers: []dmapi.Container{{Name: "main", Limits: map[string]int64{resource: n}}},
	}
}

// refused reports whether err is the manager rejecting the pod (kubelet's
// UnexpectedAdmissionError), as opposed to a harness failure.
func refused(err error) bool {
	var ae *dmapi.AdmitError
	return errors.As(err, &ae) && ae.Status == http.StatusConflict
}

// cutByRestart reports whether err is an admission cut off by a restart.
func cutByRestart(err error) bool {
	var ae *dmapi.AdmitError
	return errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable
}

func healthyIDs(r dmapi.Resources, resource string) []string {
	var ids []string
	for _, d := range r.Resources[resource].Healthy {
		ids = append(ids, d.ID)
	}
	sort.Strings(ids)
	return ids
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// restartAndCheck restarts kubelet and checks what a kubelet restart must
// leave intact: the plugin is back within 1 s of the new kubelet.sock, the
// pod admitted before keeps its devices and run options (checkpoint), the
// same pod is admitted again with the same devices (they are still valid
// IDs of healthy devices), and no socket is stale.
func restartAndCheck(ctx context.Context, t *testing.T, n *testbed.Node, resource string, count int64, before dmapi.Admission, sockets []string, down time.Duration) time.Duration {
	t.Helper()
	rs, err := n.DM.Restart(ctx, dmapi.RestartRequest{DownMillis: int(down / time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	waitReregistered(ctx, t, n, resource, count)
	took := time.Since(time.Unix(0, rs.ServingAtUnixNano))
	if took > time.Second {
		t.Errorf("plugin re-registered %v after the new kubelet.sock, want <= 1s", took)
	}
	after, err := n.DM.Pod(ctx, before.UID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("after restart the checkpoint gives\n%+v\nwant\n%+v", after, before)
	}
	again, err := n.DM.Admit(ctx, dmapi.Pod{Name: "again", UID: before.UID, Containers: containersOf(before, resource)})
	if err != nil {
		t.Errorf("re-admitting the checkpointed pod: %v", err)
	} else if fmt.Sprint(again.Containers[0].Devices) != fmt.Sprint(before.Containers[0].Devices) {
		t.Errorf("re-admission gave %v, want the checkpointed %v", again.Containers[0].Devices, before.Containers[0].Devices)
	}
	all, stale, err := n.Sockets()
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 0 || !equal(all, sockets) {
		t.Errorf("sockets after restart = %v (stale %v), want %v", all, stale, sockets)
	}
	return took
}

// containersOf rebuilds the container limits of an admitted pod.
func containersOf(a dmapi.Admission, resource string) []dmapi.Container {
	var out []dmapi.Container
	for _, c := range a.Containers {
		out = append(out, dmapi.Container{Name: c.Name, Limits: map[string]int64{resource: int64(len(c.Devices[resource]))}})
	}
	return out
}

// waitReregistered waits (10 s at most) until resource has count allocatable
// devices again; on failure it shows the sockets the plugin left.
func waitReregistered(ctx context.Context, t *testing.T, n *testbed.Node, resource string, count int64) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := n.WaitResources(wctx, "re-registration", testbed.Allocatable(resource, count)); err != nil {
		all, stale, _ := n.Sockets()
		t.Fatalf("%v\nsockets in the device-plugin directory: %v, of which nobody listens on %v", err, all, stale)
	}
}
