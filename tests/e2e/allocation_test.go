package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// allocation is one Allocate scenario: a node, a plugin mode, a pod, and
// what kubelet must hand the runtime (spec/compat.md §3).
type allocation struct {
	name     string
	topology string
	docker   bool     // ASCEND_DOCKER_RUNTIME=True in the plugin's environment
	flags    []string // plugin flags
	devNodes []string // optional nodes present under the injected /dev
	resource string
	count    int64
	// number extracts the number the runtime sees from a kubelet device ID
	// (phyID, or vdevID for a vNPU).
	number func(id string) string
	// check asserts the run options of one container given its device IDs.
	check func(t *testing.T, ids []string, numbers []string, opts dmapi.RunOptions)
}

// lastField: Ascend910-3 -> 3.
func lastField(id string) string { return id[strings.LastIndex(id, "-")+1:] }

// shareChip: Ascend310-2-1 -> 2 (the chip behind a shared device).
func shareChip(id string) string {
	parts := strings.Split(id, "-")
	return parts[len(parts)-2]
}

// vnpuID: Ascend310P-2c-100-0 -> 100 (the vdevID).
func vnpuID(id string) string {
	parts := strings.Split(id, "-")
	return parts[len(parts)-2]
}

// dockerEnvs: envs only, ASCEND_VISIBLE_DEVICES = the numbers,
// ASCEND_RUNTIME_OPTIONS always present.
func dockerEnvs(runtimeOptions string, allowLink bool) func(*testing.T, []string, []string, dmapi.RunOptions) {
	return func(t *testing.T, ids, numbers []string, opts dmapi.RunOptions) {
		t.Helper()
		visible, ok := opts.Envs["ASCEND_VISIBLE_DEVICES"]
		if !ok {
			t.Errorf("ASCEND_VISIBLE_DEVICES missing: envs %v", opts.Envs)
		}
		got := strings.Split(visible, ",")
		sort.Strings(got)
		want := append([]string{}, numbers...)
		sort.Strings(want)
		if !equal(got, want) {
			t.Errorf("ASCEND_VISIBLE_DEVICES = %q for %v, want the numbers %v", visible, ids, want)
		}
		if v, ok := opts.Envs["ASCEND_RUNTIME_OPTIONS"]; !ok || v != runtimeOptions {
			t.Errorf("ASCEND_RUNTIME_OPTIONS = %q (present %v), want %q", v, ok, runtimeOptions)
		}
		if v, ok := opts.Envs["ASCEND_ALLOW_LINK"]; allowLink && v != "True" || !allowLink && ok {
			t.Errorf("ASCEND_ALLOW_LINK = %q (present %v), want it %s", v, ok, map[bool]string{true: "True", false: "absent"}[allowLink])
		}
		if len(opts.Devices) != 0 || len(opts.Mounts) != 0 || len(opts.Annotations) != 0 {
			t.Errorf("Ascend Docker Runtime mode answers envs only, got devices %v mounts %v annotations %v", opts.Devices, opts.Mounts, opts.Annotations)
		}
	}
}

// deviceSpecs: exactly the given device nodes (container path -> host path),
// all "rw", no mounts, no annotations. chip(n) gives the chip node pair.
func deviceSpecs(chip func(n string) (container, host string), control map[string]string) func(*testing.T, []string, []string, dmapi.RunOptions) {
	return func(t *testing.T, ids, numbers []string, opts dmapi.RunOptions) {
		t.Helper()
		want := map[string]string{}
		for k, v := range control {
			want[k] = v
		}
		for _, n := range numbers {
			c, h := chip(n)
			want[c] = h
		}
		got := map[string]string{}
		for _, d := range opts.Devices {
			if _, dup := got[d.ContainerPath]; dup {
				t.Errorf("device %s listed twice", d.ContainerPath)
			}
			got[d.ContainerPath] = d.HostPath
			if d.Permissions != "rw" {
				t.Errorf("device %s permissions %q, want \"rw\"", d.ContainerPath, d.Permissions)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("device specs for %v:\n got  %v\n want %v", ids, got, want)
		}
		if len(opts.Mounts) != 0 || len(opts.Annotations) != 0 {
			t.Errorf("upstream answers no mounts and no annotations, got mounts %v annotations %v", opts.Mounts, opts.Annotations)
		}
	}
}

func davinci(n string) (string, string)  { return "/dev/davinci" + n, "/dev/davinci" + n }
func vdavinci(n string) (string, string) { return "/dev/davinci" + n, "/dev/vdavinci" + n }

// The control nodes the fake /dev has: dvpp_cmdlist is absent on purpose.
var controlNodes = []string{"davinci_manager", "devmm_svm", "hisi_hdc"}
var controlSpecs = map[string]string{
	"/dev/davinci_manager": "/dev/davinci_manager",
	"/dev/devmm_svm":       "/dev/devmm_svm",
	"/dev/hisi_hdc":        "/dev/hisi_hdc",
}

var allocations = []allocation{
	{name: "plain", topology: "910-8", devNodes: controlNodes, resource: "huawei.com/Ascend910", count: 2,
		number: lastField, check: deviceSpecs(davinci, controlSpecs)},
	{name: "ascend-docker", topology: "910-8", docker: true, resource: "huawei.com/Ascend910", count: 4,
		number: lastField, check: dockerEnvs("", false)},
	{name: "devicespec-forced-over-the-runtime", topology: "910b-16", docker: true, flags: []string{"-useAscendDocker=false"},
		devNodes: controlNodes, resource: "huawei.com/Ascend910", count: 3,
		number: lastField, check: deviceSpecs(davinci, controlSpecs)},
	{name: "devicespec-only-davinci-manager-present", topology: "310-4", devNodes: []string{"davinci_manager"},
		resource: "huawei.com/Ascend310", count: 1,
		number: lastField, check: deviceSpecs(davinci, map[string]string{"/dev/davinci_manager": "/dev/davinci_manager"})},
	{name: "310b-ascend-docker-allows-links", topology: "310b-1", docker: true, resource: "huawei.com/Ascend310", count: 1,
		number: lastField, check: dockerEnvs("", true)},
	{name: "310b-devicespec-prefers-davinci-manager-docker", topology: "310b-1", devNodes: []string{"davinci_manager", "davinci_manager_docker"},
		resource: "huawei.com/Ascend310", count: 1,
		number: lastField, check: deviceSpecs(davinci, map[string]string{"/dev/davinci_manager": "/dev/davinci_manager_docker"})},
	{name: "vnpu-ascend-docker", topology: "310p-duo-vnpu", docker: true, resource: "huawei.com/Ascend310P-2c", count: 1,
		number: vnpuID, check: dockerEnvs("VIRTUAL", false)},
	{name: "vnpu-devicespec", topology: "310p-duo-vnpu", devNodes: controlNodes, resource: "huawei.com/Ascend310P-4c", count: 1,
		number: vnpuID, check: deviceSpecs(vdavinci, controlSpecs)},
	{name: "share-ascend-docker", topology: "310-4", docker: true, flags: []string{"-shareDevCount=2"},
		resource: "huawei.com/Ascend310", count: 1, number: shareChip, check: dockerEnvs("", false)},
	{name: "share-devicespec", topology: "310-4", flags: []string{"-shareDevCount=2"}, devNodes: controlNodes,
		resource: "huawei.com/Ascend310", count: 1, number: shareChip, check: deviceSpecs(davinci, controlSpecs)},
}

func TestPluginAllocateGivesTheRuntimeWhatCompatSection3Says(t *testing.T) {
	testbed.RequirePlugin(t)
	for _, tc := range allocations {
		t.Run(tc.name, func(t *testing.T) {
			ctx := scenario(t, 2*time.Minute)
			n := testbed.StartNode(t)
			opts := testbed.PluginOptions{Topology: tc.topology, AscendDockerRuntime: tc.docker, Flags: tc.flags}
			// Always inject a /dev root, so the host's /dev never leaks in.
			opts.DevRoot = n.DevRoot(t, tc.devNodes...)
			n.StartPlugin(t, opts)
			if _, err := n.WaitResources(ctx, tc.resource, func(r dmapi.Resources) bool {
				return r.Resources[tc.resource].Allocatable >= tc.count
			}); err != nil {
				t.Fatal(err)
			}
			// Two containers, so each container's answer is checked on its own.
			p := dmapi.Pod{Name: "p", UID: "uid-p", Containers: []dmapi.Container{
				{Name: "a", Limits: map[string]int64{tc.resource: tc.count}},
			}}
			r, _ := n.DM.Resources(ctx)
			if r.Resources[tc.resource].Allocatable >= 2*tc.count {
				p.Containers = append(p.Containers, dmapi.Container{Name: "b", Limits: map[string]int64{tc.resource: tc.count}})
			}
			a, err := n.DM.Admit(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, c := range a.Containers {
				ids := c.Devices[tc.resource]
				if int64(len(ids)) != tc.count {
					t.Fatalf("container %s got %v, want %d devices", c.Name, ids, tc.count)
				}
				var numbers []string
				for _, id := range ids {
					if seen[id] {
						t.Errorf("device %s given to two containers", id)
					}
					seen[id] = true
					numbers = append(numbers, tc.number(id))
				}
				t.Logf("container %s: devices %v -> %+v", c.Name, ids, c.Options)
				tc.check(t, ids, numbers, c.Options)
			}
		})
	}
}
