package testbed

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
)

// nsScript runs inside `unshare --mount --propagation private`: it mounts
// the node's temp dir over /var/lib/kubelet (or over /var/lib when the host
// has no /var/lib/kubelet, so the host path is never created) and execs the
// device manager. $1 = temp varlib dir, $2 = devicemanager, $3 = control socket.
const nsScript = `set -e
if [ -d /var/lib/kubelet ]; then
  mount --bind "$1/kubelet" /var/lib/kubelet
else
  mount --bind "$1" /var/lib
fi
exec "$2" -control "$3" -v=3 -logtostderr=true`

// Node is one simulated node: a private mount namespace whose
// /var/lib/kubelet is a temp dir, with kubelet's device manager running in it.
type Node struct {
	// Dir is the node's temp dir (short, so socket paths fit in 108 bytes).
	Dir string
	// KubeletDir is /var/lib/kubelet of the namespace, seen from the host.
	KubeletDir string
	// PluginDir is /var/lib/kubelet/device-plugins, seen from the host.
	PluginDir string
	// PodResources is kubelet's pod-resources socket
	// (/var/lib/kubelet/pod-resources/kubelet.sock), seen from the host.
	PodResources string
	// DM drives the device manager.
	DM *dmapi.Client
	// Kubelet is the device manager process (its pid names the namespace).
	Kubelet *Proc
	// plugins started on this node: a wait fails at once when one exits.
	plugins []*Proc
	// pluginLogShown: a failed test shows the plugin's log file once.
	pluginLogShown bool
}

// StartNode creates the namespace and starts the device manager in it.
func StartNode(t testing.TB) *Node {
	t.Helper()
	b, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "e2e-")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first so it runs last, after every process has stopped.
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("E2E_KEEP") != "" {
			t.Logf("keeping %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	varlib := filepath.Join(dir, "varlib")
	n := &Node{Dir: dir, KubeletDir: filepath.Join(varlib, "kubelet")}
	n.PluginDir = filepath.Join(n.KubeletDir, "device-plugins")
	n.PodResources = filepath.Join(n.KubeletDir, "pod-resources", "kubelet.sock")
	if err := os.MkdirAll(n.PluginDir, 0o750); err != nil {
		t.Fatal(err)
	}
	control := filepath.Join(dir, "dm.sock")
	n.Kubelet = Start(t, "devicemanager", filepath.Join(dir, "devicemanager.log"), nil,
		"unshare", "--mount", "--propagation", "private", "--", "sh", "-c", nsScript, "sh", varlib, b.DeviceManager, control)
	n.DM = dmapi.NewClient(control)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if err := n.DM.Healthy(ctx); err == nil {
			break
		}
		if exited, err := n.Kubelet.Exited(); exited {
			t.Fatalf("devicemanager exited: %v\n%s", err, Tail(n.Kubelet.Log, 30))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("devicemanager not healthy after 30s\n%s", Tail(n.Kubelet.Log, 30))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return n
}

// WaitResources polls the device manager every 10 ms until ok(resources)
// holds, and returns the resources that satisfied it.
func (n *Node) WaitResources(ctx context.Context, what string, ok func(dmapi.Resources) bool) (dmapi.Resources, error) {
	var last dmapi.Resources
	var lastErr error
	for {
		r, err := n.DM.Resources(ctx)
		if err == nil && ok(r) {
			return r, nil
		}
		if err == nil {
			last = r
		}
		lastErr = err
		for _, p := range append([]*Proc{n.Kubelet}, n.plugins...) {
			if exited, err := p.Exited(); exited {
				return last, fmt.Errorf("waiting for %s: %s exited (%v):\n%s", what, p.Name, err, Tail(p.Log, 10))
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("waiting for %s: %v (last resources %+v, last error %v)", what, ctx.Err(), last.Resources, lastErr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Allocatable is a predicate: resource has exactly n allocatable devices.
func Allocatable(resource string, n int64) func(dmapi.Resources) bool {
	return func(r dmapi.Resources) bool {
		res, ok := r.Resources[resource]
		return ok && res.Allocatable == n && int64(len(res.Healthy)) == n
	}
}

// Sockets lists the unix sockets in the device-plugin directory, and which
// of them nobody listens on (stale).
func (n *Node) Sockets() (all, stale []string, err error) {
	entries, err := os.ReadDir(n.PluginDir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || info.Mode()&os.ModeSocket == 0 {
			continue
		}
		all = append(all, e.Name())
		conn, err := net.DialTimeout("unix", filepath.Join(n.PluginDir, e.Name()), time.Second)
		if err != nil {
			stale = append(stale, e.Name())
			continue
		}
		conn.Close()
	}
	sort.Strings(all)
	return all, stale, nil
}

// DevRoot makes a fake /dev under the node dir holding the given nodes
// (regular files: the plugin only checks that they exist).
func (n *Node) DevRoot(t testing.TB, nodes ...string) string {
	t.Helper()
	root := filepath.Join(n.Dir, "dev")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range nodes {
		if err := os.WriteFile(filepath.Join(root, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
