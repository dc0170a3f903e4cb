package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/draapi"
)

// DRADriver is DRA mode's driver name (docs/dra.md).
const DRADriver = "npu.huawei.com"

// DRANode is one node of the DRA scenarios: kubelet's DRA manager and
// plugin manager (cmd/dramanager) on the node's own directories, which
// stand in for /var/lib/kubelet/plugins_registry, /var/lib/kubelet/plugins,
// /var/run/cdi and kubelet's root. No mount namespace: neither the manager
// nor the plugin hard-codes a path.
type DRANode struct {
	Name string
	// Dir is the node's temp dir (short, so socket paths fit in 108 bytes).
	Dir string
	// RegistryDir, PluginsDir, CDIDir and StateDir are the plugin's
	// --registry-dir, --plugins-dir, --cdi-dir and --state-dir.
	RegistryDir, PluginsDir, CDIDir, StateDir string
	// KubeletDir holds the DRA manager's checkpoint (dra_manager_state).
	KubeletDir string
	// Manager drives cmd/dramanager; Kubelet is its process.
	Manager *draapi.Client
	Kubelet *Proc

	cp *ControlPlane
	// owner is the test that started the node: the processes started on
	// it later (a kubelet or driver restart inside a subtest) live and
	// are stopped with it, not with the subtest.
	owner    testing.TB
	starts   int
	control  string
	plugins  []*Proc
	logShown bool
}

// StartDRANode creates the node's directories and starts kubelet's DRA
// manager for node name, with the admin's credentials (kubelet's own are
// not under test). The Node object must exist: the manager reads it.
func StartDRANode(t testing.TB, cp *ControlPlane, name string) *DRANode {
	t.Helper()
	dir, err := os.MkdirTemp("", "dra-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("E2E_KEEP") != "" {
			t.Logf("keeping %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	n := &DRANode{
		Name: name, Dir: dir, cp: cp, owner: t,
		RegistryDir: filepath.Join(dir, "registry"),
		PluginsDir:  filepath.Join(dir, "plugins"),
		CDIDir:      filepath.Join(dir, "cdi"),
		StateDir:    filepath.Join(dir, "state"),
		KubeletDir:  filepath.Join(dir, "kubelet"),
		control:     filepath.Join(dir, "dm.sock"),
	}
	for _, d := range []string{n.RegistryDir, n.PluginsDir, n.CDIDir, n.StateDir, n.KubeletDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	n.Manager = draapi.NewClient(n.control)
	n.StartKubelet(t)
	return n
}

// StartKubelet starts (again) the DRA manager on the node's directories;
// the process belongs to the test that started the node.
func (n *DRANode) StartKubelet(t testing.TB) {
	t.Helper()
	b, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(n.control)
	n.starts++
	n.Kubelet = Start(n.owner, "dramanager", filepath.Join(n.Dir, fmt.Sprintf("dramanager-%d.log", n.starts)), nil,
		b.DRAManager, "-control", n.control, "-kubeconfig", n.cp.AdminConfig, "-node", n.Name,
		"-state-dir", n.KubeletDir, "-registry-dir", n.RegistryDir, "-v=4", "-logtostderr=true")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for n.Manager.Healthy(ctx) != nil {
		if exited, err := n.Kubelet.Exited(); exited {
			t.Fatalf("dramanager exited: %v\n%s", err, Tail(n.Kubelet.Log, 40))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dramanager not ready within a minute\n%s", Tail(n.Kubelet.Log, 40))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// StopKubelet stops the DRA manager (SIGTERM): kubelet going down.
func (n *DRANode) StopKubelet(t testing.TB) {
	t.Helper()
	n.Kubelet.Stop(t)
}

// DRAPluginOptions choose the simulated node and the plugin's credentials.
type DRAPluginOptions struct {
	// Topology is ASCEND_SIM_TOPOLOGY.
	Topology string
	// Kubeconfig is --kubeconfig (a pod-bound token: BoundKubeconfig).
	Kubeconfig string
	// Flags are extra flags.
	Flags []string
}

// StartDRAPlugin starts `ascend-device-plugin dra` for the node, on the
// node's directories, as deploy/overlays/dra runs it. Started again on the
// same node it shares the simulator state.
func (n *DRANode) StartDRAPlugin(t testing.TB, opts DRAPluginOptions) *Plugin {
	t.Helper()
	b := RequirePlugin(t)
	p := &Plugin{
		State:   filepath.Join(n.Dir, "sim-state.json"),
		LogFile: filepath.Join(n.Dir, "plugin.out"),
		sim:     b.Sim,
	}
	env := []string{"ASCEND_SIM_TOPOLOGY=" + opts.Topology, "ASCEND_SIM_STATE=" + p.State, "NODE_NAME=" + n.Name}
	argv := []string{b.Plugin, "dra",
		"--plugins-dir", n.PluginsDir, "--registry-dir", n.RegistryDir, "--cdi-dir", n.CDIDir,
		"--state-dir", n.StateDir, "--dcmi-lib", b.DCMILib, "--kubeconfig", opts.Kubeconfig}
	argv = append(argv, opts.Flags...)
	p.Proc = Start(n.owner, "ascend-device-plugin-dra", p.LogFile, env, argv...)
	n.plugins = append(n.plugins, p.Proc)
	if !n.logShown {
		n.logShown = true
		owner := n.owner
		owner.Cleanup(func() {
			if owner.Failed() {
				owner.Logf("last lines of the DRA plugin's output (%s):\n%s", p.LogFile, Tail(p.LogFile, 60))
				owner.Logf("last lines of the DRA manager's log (%s):\n%s", n.Kubelet.Log, Tail(n.Kubelet.Log, 40))
			}
		})
	}
	return p
}

// WaitRegistered waits until kubelet's DRA plugin manager has a plugin for
// the driver (registered through the plugin watcher and connected).
func (n *DRANode) WaitRegistered(t testing.TB, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last draapi.Driver
	for {
		d, err := n.Manager.Driver(ctx, DRADriver)
		if err == nil && d.Registered {
			return
		}
		last = d
		for _, p := range n.plugins {
			if exited, err := p.Exited(); exited {
				t.Fatalf("the DRA plugin exited: %v\n%s", err, Tail(p.Log, 40))
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("driver %s not registered with kubelet's DRA manager within %s: %s", DRADriver, within, last.Error)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StartScheduler starts kube-scheduler (cmd/scheduler) with the admin's
// credentials, no leader election and no serving port.
func StartScheduler(t testing.TB, cp *ControlPlane) *Proc {
	t.Helper()
	b, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	return Start(t, "kube-scheduler", filepath.Join(cp.dir, "scheduler.log"), nil,
		b.Scheduler, "--kubeconfig="+cp.AdminConfig, "--leader-elect=false", "--secure-port=0", "-v=2")
}

// KillDRAPlugin kills the plugin with SIGKILL (a crash: it removes
// nothing) and waits for it; the node stops watching it.
func (n *DRANode) KillDRAPlugin(p *Plugin) {
	p.Proc.Kill()
	n.plugins = slices.DeleteFunc(n.plugins, func(q *Proc) bool { return q == p.Proc })
}
