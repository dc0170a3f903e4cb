package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// The image itself, not the debug build: the amd64 image of the OCI archive
// scripts/image-oci.sh builds (Debian's glibc and libgcc, the release
// binary), unpacked and run as deploy/rendered/910.yaml runs its container,
// serves kubelet's device manager from the simulator.
func TestImageRootfsServesKubeletAsTheDaemonSetRunsIt(t *testing.T) {
	archive, imagerun := testbed.RequireImage(t)
	ctx := scenario(t, 3*time.Minute)
	n := testbed.StartNode(t)
	img, err := testbed.ExtractImage(archive, "amd64", filepath.Join(n.Dir, "rootfs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/dpkg"} {
		if _, err := os.Lstat(filepath.Join(img.Rootfs, absent)); err == nil {
			t.Errorf("the image holds %s", absent)
		}
	}
	manifest := filepath.Join("..", "..", "deploy", "rendered", "910.yaml")
	ds, err := testbed.ReadDaemonSet(manifest)
	if err != nil {
		t.Fatal(err)
	}
	// What the scenario reproduces must be what the manifest says.
	if ds.RunAsUser != 0 || ds.Security["readOnlyRootFilesystem"] != true || ds.Security["privileged"] != false ||
		ds.Security["allowPrivilegeEscalation"] != false {
		t.Fatalf("the DaemonSet's security settings changed: runAsUser %d, %v", ds.RunAsUser, ds.Security)
	}
	if drop, _ := ds.Security["capabilities"].(map[string]any)["drop"].([]any); len(drop) != 1 || drop[0] != "ALL" {
		t.Fatalf("the DaemonSet no longer drops ALL capabilities: %v", ds.Security["capabilities"])
	}

	p := n.StartImagePlugin(t, img, imagerun, manifest, "910-8")
	if _, err := n.WaitResources(ctx, "8 healthy Ascend910 from the image", testbed.Allocatable("huawei.com/Ascend910", 8)); err != nil {
		t.Fatal(err)
	}

	// The process is the image's binary, uid 0, with no capability at all.
	pid := p.Proc.Pid()
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	if !strings.HasPrefix(fields["Uid"], "0\t0\t0\t0") {
		t.Errorf("Uid %q, want 0 everywhere", fields["Uid"])
	}
	for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if fields[set] != "0000000000000000" {
			t.Errorf("%s = %s, want no capability", set, fields[set])
		}
	}
	if fields["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs = %q", fields["NoNewPrivs"])
	}
	exe, errExe := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	want, errWant := os.Stat(filepath.Join(img.Rootfs, img.Entrypoint[0]))
	if errExe != nil || errWant != nil || !os.SameFile(exe, want) {
		t.Errorf("the process does not run the image's %s (%v, %v)", img.Entrypoint[0], errExe, errWant)
	}
	// Its root is read-only; the volumes it writes to are not.
	probe := filepath.Join("/proc", strconv.Itoa(pid), "root", "usr", "local", "bin", "written-by-e2e")
	if err := os.WriteFile(probe, nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("writing into the container's root: %v, want EROFS", err)
		_ = os.Remove(probe)
	}
	if _, err := os.Stat(p.LogFile); err != nil {
		t.Errorf("no log in the log volume: %v", err)
	}

	// The simulator behind the read-only driver volume still delivers faults.
	p.Sim(t, "fault", "raise", "--phy", "3", "--code", "80E01801", "--severity", "2")
	r, err := n.WaitResources(ctx, "Ascend910-3 unhealthy", func(r dmapi.Resources) bool {
		return r.Resources["huawei.com/Ascend910"].Allocatable == 7
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range healthyIDs(r, "huawei.com/Ascend910") {
		if id == "Ascend910-3" {
			t.Errorf("Ascend910-3 still healthy: %v", healthyIDs(r, "huawei.com/Ascend910"))
		}
	}

	// A pod is admitted through the image's Allocate.
	a, err := n.DM.Admit(ctx, pod("image-pod", "huawei.com/Ascend910", 2))
	if err != nil {
		t.Fatalf("admitting a pod: %v", err)
	}
	if len(a.Containers) != 1 {
		t.Fatalf("admission %+v", a)
	}
	got := a.Containers[0]
	ids := got.Devices["huawei.com/Ascend910"]
	if len(ids) != 2 || ids[0] == "Ascend910-3" || ids[1] == "Ascend910-3" {
		t.Errorf("allocated %v, want two healthy chips", ids)
	}
	// No Ascend Docker Runtime here: the answer names the device nodes.
	if len(got.Options.Devices) == 0 {
		t.Errorf("Allocate answered no device nodes: %+v", got.Options)
	}

	// SIGTERM, as kubelet stops the pod: a clean exit that removes the socket.
	p.Proc.Stop(t)
	if exited, err := p.Proc.Exited(); !exited || err != nil {
		t.Fatalf("after SIGTERM: exited %v, %v", exited, err)
	}
	all, _, err := n.Sockets()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if strings.HasPrefix(filepath.Base(s), "Ascend") {
			t.Errorf("socket %s left behind", s)
		}
	}
}
