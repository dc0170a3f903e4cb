package testbed

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// DefaultNodeName is NODE_NAME unless PluginOptions.NodeName says otherwise.
const DefaultNodeName = "e2e-node"

// PluginOptions choose the simulated node and the plugin's mode.
type PluginOptions struct {
	// Topology is ASCEND_SIM_TOPOLOGY (910-8, 910b-16, a3-16, 310p-duo-vnpu, 310-4, 310p-mixed, 310b-1).
	Topology string
	// AscendDockerRuntime sets ASCEND_DOCKER_RUNTIME=True in the plugin's environment.
	AscendDockerRuntime bool
	// DevRoot, if set, is passed as --dev-root.
	DevRoot string
	// Flags are extra Go-style flags (-shareDevCount=2, ...).
	Flags []string
	// NodeName is NODE_NAME (default DefaultNodeName).
	NodeName string
	// NoNodeName leaves NODE_NAME out of the environment.
	NoNodeName bool
	// Kubeconfig, if set, is passed as --kubeconfig: the plugin talks to
	// that API server (without it, it never does: KUBECONFIG and
	// KUBERNETES_SERVICE_* are not inherited).
	Kubeconfig string
	// HostIP, if set, is HOST_IP.
	HostIP string
	// StateDir, if set, is passed as --state-dir.
	StateDir string
}

// Plugin is the real plugin running in a node's mount namespace.
type Plugin struct {
	Proc *Proc
	// State is the simulator's fault-injection file (ASCEND_SIM_STATE).
	State string
	// LogFile is the plugin's -logFile.
	LogFile string
	// Options it was started with.
	Options PluginOptions
	sim     string
}

// RequirePlugin skips the test when the real plugin is not built.
func RequirePlugin(t testing.TB) Binaries {
	t.Helper()
	b, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	if b.Plugin == "" || b.DCMILib == "" || b.Sim == "" {
		t.Skipf("needs the real plugin: ascend-device-plugin, libdcmi.so and ascend-sim not all built (plugin=%q lib=%q sim=%q); run `cargo build` in the repo root or set E2E_PLUGIN_BIN/E2E_DCMI_LIB/E2E_SIM_BIN", b.Plugin, b.DCMILib, b.Sim)
	}
	return b
}

// StartPlugin starts the plugin inside the node's mount namespace (nsenter),
// with --kubelet-dir /var/lib/kubelet as on a real node. Started again on
// the same node it shares the simulator state and the log files.
func (n *Node) StartPlugin(t testing.TB, opts PluginOptions) *Plugin {
	t.Helper()
	b := RequirePlugin(t)
	p := &Plugin{
		State:   filepath.Join(n.Dir, "sim-state.json"),
		LogFile: filepath.Join(n.Dir, "plugin.log"),
		Options: opts,
		sim:     b.Sim,
	}
	node := opts.NodeName
	if node == "" {
		node = DefaultNodeName
	}
	env := []string{"ASCEND_SIM_TOPOLOGY=" + opts.Topology, "ASCEND_SIM_STATE=" + p.State}
	if !opts.NoNodeName {
		env = append(env, "NODE_NAME="+node)
	}
	if opts.AscendDockerRuntime {
		env = append(env, "ASCEND_DOCKER_RUNTIME=True")
	}
	if opts.HostIP != "" {
		env = append(env, "HOST_IP="+opts.HostIP)
	}
	argv := []string{"nsenter", fmt.Sprintf("--target=%d", n.Kubelet.Pid()), "--mount", "--",
		b.Plugin, "--kubelet-dir", "/var/lib/kubelet", "--dcmi-lib", b.DCMILib, "-logFile=" + p.LogFile}
	if opts.DevRoot != "" {
		argv = append(argv, "--dev-root", opts.DevRoot)
	}
	if opts.Kubeconfig != "" {
		argv = append(argv, "--kubeconfig", opts.Kubeconfig)
	}
	if opts.StateDir != "" {
		argv = append(argv, "--state-dir", opts.StateDir)
	}
	argv = append(argv, opts.Flags...)
	p.Proc = Start(t, "ascend-device-plugin", filepath.Join(n.Dir, "plugin.out"), env, argv...)
	n.plugins = append(n.plugins, p.Proc)
	if !n.pluginLogShown {
		// Once per node: a restarted plugin appends to the same file.
		n.pluginLogShown = true
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("last lines of the plugin's -logFile (%s):\n%s", p.LogFile, Tail(p.LogFile, 40))
			}
		})
	}
	return p
}

// KillPlugin kills the plugin with SIGKILL (a crash: it removes nothing)
// and waits for it; the node stops watching it.
func (n *Node) KillPlugin(p *Plugin) {
	p.Proc.Kill()
	n.plugins = slices.DeleteFunc(n.plugins, func(q *Proc) bool { return q == p.Proc })
}

// Sim runs the simulator CLI on the plugin's state file
// (e.g. "fault", "raise", "--phy", "3", "--code", "80E01801", "--severity", "2").
func (p *Plugin) Sim(t testing.TB, args ...string) {
	t.Helper()
	argv := append([]string{"--state", p.State}, args...)
	out, err := exec.Command(p.sim, argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("ascend-sim %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}
