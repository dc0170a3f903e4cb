// Package testbed starts and stops what the scenarios run against: kubelet's
// device manager in a private mount namespace (cmd/devicemanager), the real
// plugin and the simulator CLI inside that namespace, and the control plane
// (cmd/apiserver). Every process is stopped and every temp dir removed in
// t.Cleanup.
package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// Binaries are the programs the scenarios run.
type Binaries struct {
	// DeviceManager and APIServer are the Go harnesses (cmd/...).
	DeviceManager, APIServer string
	// DRAManager and Scheduler are the DRA scenarios' harnesses
	// (cmd/dramanager, cmd/scheduler).
	DRAManager, Scheduler string
	// Plugin, Sim and DCMILib come from the Rust build; empty when absent.
	Plugin, Sim, DCMILib string
}

var (
	bins     Binaries
	binsErr  error
	binsOnce sync.Once
	builtDir string
)

// RemoveBuilt deletes harnesses Find built (call it from TestMain).
func RemoveBuilt() {
	if builtDir != "" {
		_ = os.RemoveAll(builtDir)
	}
}

// Find locates the binaries: E2E_DEVICEMANAGER_BIN / E2E_APISERVER_BIN /
// E2E_DRAMANAGER_BIN / E2E_SCHEDULER_BIN, else it builds cmd/devicemanager,
// cmd/apiserver, cmd/dramanager and cmd/scheduler into a temp dir once per test
// binary; E2E_PLUGIN_BIN / E2E_SIM_BIN / E2E_DCMI_LIB, else
// $CARGO_TARGET_DIR/debug (default $HOME/.cache/ascend-device-plugin/target);
// none of the Rust ones when E2E_NO_PLUGIN=1.
func Find() (Binaries, error) {
	binsOnce.Do(func() { bins, binsErr = find() })
	return bins, binsErr
}

func find() (Binaries, error) {
	var b Binaries
	b.DeviceManager = os.Getenv("E2E_DEVICEMANAGER_BIN")
	b.APIServer = os.Getenv("E2E_APISERVER_BIN")
	b.DRAManager = os.Getenv("E2E_DRAMANAGER_BIN")
	b.Scheduler = os.Getenv("E2E_SCHEDULER_BIN")
	if b.DeviceManager == "" || b.APIServer == "" || b.DRAManager == "" || b.Scheduler == "" {
		dir, err := buildHarnesses()
		if err != nil {
			return b, err
		}
		if b.DeviceManager == "" {
			b.DeviceManager = filepath.Join(dir, "devicemanager")
		}
		if b.APIServer == "" {
			b.APIServer = filepath.Join(dir, "apiserver")
		}
		if b.DRAManager == "" {
			b.DRAManager = filepath.Join(dir, "dramanager")
		}
		if b.Scheduler == "" {
			b.Scheduler = filepath.Join(dir, "scheduler")
		}
	}
	if os.Getenv("E2E_NO_PLUGIN") == "1" {
		// The Rust build failed: never fall back to a stale binary.
		return b, nil
	}
	target := os.Getenv("CARGO_TARGET_DIR")
	if target == "" {
		home, _ := os.UserHomeDir()
		target = filepath.Join(home, ".cache", "ascend-device-plugin", "target")
	}
	debug := filepath.Join(target, "debug")
	b.Plugin = existing(os.Getenv("E2E_PLUGIN_BIN"), filepath.Join(debug, "ascend-device-plugin"))
	b.Sim = existing(os.Getenv("E2E_SIM_BIN"), filepath.Join(debug, "ascend-sim"))
	b.DCMILib = existing(os.Getenv("E2E_DCMI_LIB"), filepath.Join(debug, "libdcmi.so"))
	return b, nil
}

// existing returns the explicit path if set, else the default if it exists.
func existing(explicit, fallback string) string {
	if explicit != "" {
		return explicit
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	return ""
}

// buildHarnesses builds the cmd/ harnesses but imagerun (module root is
// two levels up from this package's directory at test time: the test runs
// in tests/e2e).
func buildHarnesses() (string, error) {
	dir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		return "", err
	}
	builtDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/devicemanager", "./cmd/apiserver", "./cmd/dramanager", "./cmd/scheduler")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the harnesses (run from tests/e2e): %w", err)
	}
	return dir, nil
}
