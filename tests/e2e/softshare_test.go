package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// Soft-share annotations Volcano writes (recovery spec §4.6).
const (
	annAICoreQuota = "huawei.com/scheduler.softShareDev.aicoreQuota"
	annHBMQuota    = "huawei.com/scheduler.softShareDev.hbmQuota"
	annPolicy      = "huawei.com/scheduler.softShareDev.policy"
)

// A soft-share 910B node against kubelet's device manager and the real
// kube-apiserver: it registers each chip 100 times under
// huawei.com/Ascend910, and a pod asking 40 IDs (40 % of a chip) that
// Volcano placed on chip 9 is admitted with chip 9, its shared-memory file
// and its npu_info.config mounted, and its pod written back.
func TestSoftShareNodeRegistersAndAllocates(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, 2*time.Minute)
	cp := testbed.StartControlPlane(t, testbed.ShippedRBAC(t))
	admin := client(t, cp.AdminConfig)
	node := testbed.DefaultNodeName
	createNode(ctx, t, admin, node, "192.0.2.30", nil)
	createNamespace(ctx, t, admin, jobs)
	n := testbed.StartNode(t)
	share := filepath.Join(n.Dir, "softshare")
	enpu := filepath.Join(n.Dir, "enpu")
	n.StartPlugin(t, testbed.PluginOptions{
		Topology: "910b-16", AscendDockerRuntime: true,
		Kubeconfig: cp.SAConfig, StateDir: filepath.Join(n.Dir, "state"),
		Flags: []string{"-volcanoType=true", "-shareDevCount=100",
			"-softShareDevConfigDir=" + share, "--soft-share-enpu-dir=" + enpu},
	})
	if _, err := n.WaitResources(ctx, "16 chips x 100", testbed.Allocatable(ascend910, 1600)); err != nil {
		t.Fatal(err)
	}

	quota := resource.NewQuantity(40, resource.DecimalSI)
	automount := false
	pod, err := admin.CoreV1().Pods(jobs).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "infer-0", Namespace: jobs,
			Annotations: map[string]string{
				ascend910:      chipName(9),
				predicateTime:  strconv.FormatInt(time.Now().UnixNano(), 10),
				annAICoreQuota: "40",
				annHBMQuota:    "12288",
				annPolicy:      "elastic",
			},
		},
		Spec: corev1.PodSpec{
			NodeName: node, SchedulerName: "volcano", AutomountServiceAccountToken: &automount,
			Containers: []corev1.Container{{
				Name: "main", Image: "infer:1",
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{ascend910: *quota},
					Requests: corev1.ResourceList{ascend910: *quota},
				},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(watchSettle)
	a, err := admitPod(ctx, n, pod)
	if err != nil {
		t.Fatalf("kubelet admitting %s/%s (Volcano chose chip 9, 40 %%): %v", jobs, pod.Name, err)
	}
	ids := a.Containers[0].Devices[ascend910]
	if len(ids) != 40 {
		t.Errorf("kubelet assigned %d IDs, want 40", len(ids))
	}
	if got := visible(a); !equal(got, []string{"9"}) {
		t.Errorf("ASCEND_VISIBLE_DEVICES = %v, want Volcano's chip [9]", got)
	}
	mounts := a.Containers[0].Options.Mounts
	if len(mounts) != 2 {
		t.Fatalf("mounts %+v, want the shared-memory file and the config directory", mounts)
	}
	entries, err := os.ReadDir(filepath.Join(share, "9"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("%s/9: %v entries, error %v; want the chip's one shared-memory file", share, len(entries), err)
	}
	die := entries[0].Name()
	if m := mounts[0]; m.ContainerPath != "/dev/shm/"+die || m.HostPath != filepath.Join(share, "9", die) || m.ReadOnly {
		t.Errorf("shared-memory mount %+v, want %s at /dev/shm/%s read-write", m, filepath.Join(share, "9", die), die)
	}
	configDir := filepath.Join(enpu, jobs+".infer-0", "9_0")
	if m := mounts[1]; m.ContainerPath != "/etc/enpu/vcann-rt/" || m.HostPath != configDir || !m.ReadOnly {
		t.Errorf("config mount %+v, want %s at /etc/enpu/vcann-rt/ read-only", m, configDir)
	}
	config, err := os.ReadFile(filepath.Join(configDir, "npu_info.config"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("physical-npu-id=9\nvirtual-npu-id=0\naicore-quota=40\nmemory-quota=12288\nshm-id=%s\nscheduling-policy=2\n", die)
	if string(config) != want {
		t.Errorf("npu_info.config =\n%s\nwant\n%s", config, want)
	}
	got, err := waitPod(ctx, admin, jobs, pod.Name, 10*time.Second, "AscendReal and kltDev written", func(p *corev1.Pod) bool {
		return p.Annotations[annAscendReal] != "" && p.Annotations[annKltDev] != ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Annotations[annAscendReal]; r != chipName(9) {
		t.Errorf("%s = %q, want the one chip %s", annAscendReal, r, chipName(9))
	}
	if k := strings.Split(got.Annotations[annKltDev], ","); len(k) != 40 {
		t.Errorf("%s names %d IDs, want kubelet's 40", annKltDev, len(k))
	}
	if p := got.Annotations[predicateTime]; p != consumed {
		t.Errorf("predicate-time = %q, want %s", p, consumed)
	}
}
