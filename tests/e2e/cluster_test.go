package e2e

// What the cluster scenarios share: the objects the admin and "Volcano"
// create, the plugin's write-backs read back and checked, the device-info
// ConfigMap decoded and its CheckCode recomputed, and the simulated
// topology the expected values come from.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// Names and values of the cluster contract (spec/compat.md §4-§6).
const (
	ascend910 = "huawei.com/Ascend910"
	// consumed is the predicate-time of a pod an Allocate has used.
	consumed         = "18446744073709551615"
	predicateTime    = "predicate-time"
	annKltDev        = "huawei.com/kltDev"
	annAscendReal    = "huawei.com/AscendReal"
	annConfiguration = "ascend.kubectl.kubernetes.io/ascend-910-configuration"
	deviceInfoPrefix = "mindx-dl-deviceinfo-"
	faultConfig      = "mindx-dl-fault-config"
	jobs             = "e2e-jobs"
)

// topology is the part of a simulator topology file the cluster scenarios
// derive expected values from.
type topology struct {
	DCMIVersion string `json:"dcmi_version"`
	Cards       []struct {
		Chips []struct {
			PhyID    int    `json:"phy_id"`
			ChipName string `json:"chip_name"`
			AICore   int    `json:"aicore"`
			Memory   struct {
				HBMMB int `json:"hbm_mb"`
			} `json:"memory"`
			RoCE []struct {
				Address string `json:"address"`
			} `json:"roce"`
		} `json:"chips"`
	} `json:"cards"`
}

func readTopology(t *testing.T, name string) topology {
	t.Helper()
	path := filepath.Join("..", "..", "ffi", "topologies", name+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var topo topology
	if err := json.Unmarshal(data, &topo); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return topo
}

// deviceIP is the RoCE address DCMI reports for a chip.
func (topo topology) deviceIP(phy int) string {
	for _, card := range topo.Cards {
		for _, chip := range card.Chips {
			if chip.PhyID == phy && len(chip.RoCE) > 0 {
				return chip.RoCE[0].Address
			}
		}
	}
	return ""
}

// chipName is the device name of a 910 chip: Ascend910-<phy>.
func chipName(phy int) string { return fmt.Sprintf("Ascend910-%d", phy) }

// phyOf is the number in a device name: Ascend910-6 -> 6.
func phyOf(t *testing.T, name string) int {
	t.Helper()
	n, err := strconv.Atoi(lastField(name))
	if err != nil {
		t.Fatalf("%q is no <Type>-<phyID> name", name)
	}
	return n
}

// splitList splits a comma-joined list; "" is the empty list.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func sortedList(s string) []string {
	out := splitList(s)
	sort.Strings(out)
	return out
}

// createNode creates the Node object as the admin (kubelet would register
// it), with an InternalIP and the given labels.
func createNode(ctx context.Context, t *testing.T, admin *kubernetes.Clientset, name, internalIP string, labels map[string]string) {
	t.Helper()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: internalIP},
			{Type: corev1.NodeHostName, Address: name},
		}},
	}
	created, err := admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("admin creating node %s: %v", name, err)
	}
	if len(created.Status.Addresses) == 0 {
		created.Status = node.Status
		if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("admin setting the addresses of node %s: %v", name, err)
		}
	}
}

// createNamespace creates a namespace and its default ServiceAccount (no
// controller-manager runs to create it, and pod admission needs it).
func createNamespace(ctx context.Context, t *testing.T, admin *kubernetes.Clientset, ns string) {
	t.Helper()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin creating namespace %s: %v", ns, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("admin creating %s/default: %v", ns, err)
	}
}

// volcanoPod creates a pod the way Volcano leaves it once bound: on node,
// asking len(chips) of huawei.com/Ascend910 in its only container, the
// chosen chips in annotation huawei.com/Ascend910 and the predicate time
// (UnixNano) in predicate-time.
func volcanoPod(ctx context.Context, t *testing.T, admin *kubernetes.Clientset, name, node string, chips []string, predicate int64) *corev1.Pod {
	t.Helper()
	n := resource.NewQuantity(int64(len(chips)), resource.DecimalSI)
	automount := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: jobs,
			Annotations: map[string]string{
				ascend910:     strings.Join(chips, ","),
				predicateTime: strconv.FormatInt(predicate, 10),
			},
		},
		Spec: corev1.PodSpec{
			NodeName:                     node,
			SchedulerName:                "volcano",
			AutomountServiceAccountToken: &automount,
			Containers: []corev1.Container{{
				Name: "main", Image: "train:1",
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{ascend910: *n},
					Requests: corev1.ResourceList{ascend910: *n},
				},
			}},
		},
	}
	created, err := admin.CoreV1().Pods(jobs).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", jobs, name, err)
	}
	return created
}

// deletePod deletes a pod at once (no kubelet runs to confirm a graceful
// deletion).
func deletePod(ctx context.Context, t *testing.T, admin *kubernetes.Clientset, pod *corev1.Pod) {
	t.Helper()
	zero := int64(0)
	if err := admin.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("deleting pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}

// admitPod admits the API pod through the device manager, as kubelet
// would once it sees the pod bound to its node: same name, namespace, UID
// and limits.
func admitPod(ctx context.Context, n *testbed.Node, pod *corev1.Pod) (dmapi.Admission, error) {
	spec := dmapi.Pod{Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID)}
	for _, c := range pod.Spec.Containers {
		limits := map[string]int64{}
		for name, q := range c.Resources.Limits {
			limits[string(name)] = q.Value()
		}
		spec.Containers = append(spec.Containers, dmapi.Container{Name: c.Name, Limits: limits})
	}
	return n.DM.Admit(ctx, spec)
}

// visible is the sorted ASCEND_VISIBLE_DEVICES of a one-container admission.
func visible(a dmapi.Admission) []string {
	if len(a.Containers) == 0 {
		return nil
	}
	return sortedList(a.Containers[0].Options.Envs["ASCEND_VISIBLE_DEVICES"])
}

// waitPod polls the pod (every 100 ms) until ok holds, and returns it.
func waitPod(ctx context.Context, c *kubernetes.Clientset, ns, name string, limit time.Duration, what string, ok func(*corev1.Pod) bool) (*corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last *corev1.Pod
	var lastErr error
	for {
		pod, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && ok(pod) {
			return pod, nil
		}
		if err == nil {
			last = pod
		}
		lastErr = err
		select {
		case <-ctx.Done():
			ann := map[string]string{}
			if last != nil {
				ann = last.Annotations
			}
			return last, fmt.Errorf("pod %s/%s: %s not within %v (last annotations %v, last error %v)", ns, name, what, limit, ann, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writtenBack: the plugin has written its annotations on the pod.
func writtenBack(pod *corev1.Pod) bool {
	return pod.Annotations[annAscendReal] != "" && pod.Annotations[annKltDev] != "" && pod.Annotations[annConfiguration] != ""
}

// configuration910 is Go's Instance struct of the 910 configuration
// annotation, in the Go plugin's field order (compat §4 item 5).
type configuration910 struct {
	PodName    string      `json:"pod_name"`
	ServerID   string      `json:"server_id"`
	HostIP     string      `json:"host_ip"`
	SuperPodID int         `json:"super_pod_id"`
	Devices    []device910 `json:"devices"`
	RackID     int         `json:"rack_id"`
	ServerIdx  string      `json:"server_index"`
	ServerIP   string      `json:"server_ip"`
}

type device910 struct {
	DeviceID      string `json:"device_id"`
	DeviceIP      string `json:"device_ip"`
	SuperDeviceID string `json:"super_device_id"`
}

// wantConfiguration is the exact annotation for a pod given chips, on a
// part without super-pod info.
func wantConfiguration(t *testing.T, topo topology, pod *corev1.Pod, nodeIP string, chips []string) string {
	t.Helper()
	phys := make([]int, 0, len(chips))
	for _, c := range chips {
		phys = append(phys, phyOf(t, c))
	}
	sort.Ints(phys)
	// -2: no super pod (DCMI has no super-pod info on a 910), as upstream
	// writes it (compat §11).
	cfg := configuration910{PodName: pod.Name, ServerID: string(pod.UID), HostIP: nodeIP, SuperPodID: -2, ServerIdx: "-2", ServerIP: nodeIP}
	for _, p := range phys {
		cfg.Devices = append(cfg.Devices, device910{DeviceID: strconv.Itoa(p), DeviceIP: topo.deviceIP(p), SuperDeviceID: "0"})
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// checkWriteBack asserts the write-back of a pod the plugin used for an
// Allocate of kubeletIDs with Volcano's chips: predicate-time consumed,
// kltDev = the kubelet IDs, AscendReal = the chips, the 910 configuration
// byte for byte. It answers kubelet ID -> real chip as the annotations pair
// them (same position in kltDev and AscendReal).
func checkWriteBack(t *testing.T, topo topology, pod *corev1.Pod, nodeIP string, kubeletIDs, chips []string) map[string]string {
	t.Helper()
	ann := pod.Annotations
	where := fmt.Sprintf("pod %s/%s", pod.Namespace, pod.Name)
	if got := ann[predicateTime]; got != consumed {
		t.Errorf("%s: predicate-time = %q, want %s (consumed)", where, got, consumed)
	}
	klt := splitList(ann[annKltDev])
	if got, want := sortedList(ann[annKltDev]), sortedCopy(kubeletIDs); !equal(got, want) {
		t.Errorf("%s: %s = %q, want the kubelet IDs %v in any order", where, annKltDev, ann[annKltDev], want)
	}
	reals := splitList(ann[annAscendReal])
	if got, want := ann[annAscendReal], strings.Join(chips, ","); got != want {
		t.Errorf("%s: %s = %q, want %q (Volcano's chips)", where, annAscendReal, got, want)
	}
	if got, want := ann[annConfiguration], wantConfiguration(t, topo, pod, nodeIP, chips); got != want {
		t.Errorf("%s: %s =\n  %s\nwant\n  %s", where, annConfiguration, got, want)
	}
	pairs := map[string]string{}
	for i := range klt {
		if i < len(reals) {
			pairs[klt[i]] = reals[i]
		}
	}
	return pairs
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

// deviceInfoCfg is the DeviceInfoCfg key of the device-info ConfigMap.
type deviceInfoCfg struct {
	DeviceInfo struct {
		DeviceList map[string]string `json:"DeviceList"`
		UpdateTime int64             `json:"UpdateTime"`
	} `json:"DeviceInfo"`
	SuperPodID  int64  `json:"SuperPodID"`
	ServerIndex int64  `json:"ServerIndex"`
	CheckCode   string `json:"CheckCode"`
}

// checkCode recomputes the CheckCode the Go plugin writes: SHA-256 of Go's
// encoding/json of {DeviceList, UpdateTime}, lowercase hex.
func checkCode(list map[string]string, updateTime int64) string {
	data, err := json.Marshal(struct {
		DeviceList map[string]string
		UpdateTime int64
	}{list, updateTime})
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// deviceInfo is the decoded device-info ConfigMap of a node.
type deviceInfo struct {
	cm  *corev1.ConfigMap
	cfg deviceInfoCfg
}

// list is a DeviceList entry of resource type T with suffix ("" or
// "-Unhealthy", ...), sorted.
func (d deviceInfo) list(suffix string) []string {
	return sortedList(d.cfg.DeviceInfo.DeviceList[ascend910+suffix])
}

// readDeviceInfo reads and decodes kube-system/mindx-dl-deviceinfo-<node>;
// problems lists every way it breaks compat §5 (label, keys, JSON, CheckCode).
func readDeviceInfo(ctx context.Context, c *kubernetes.Clientset, node string) (deviceInfo, []string, error) {
	cm, err := c.CoreV1().ConfigMaps("kube-system").Get(ctx, deviceInfoPrefix+node, metav1.GetOptions{})
	if err != nil {
		return deviceInfo{}, nil, err
	}
	d := deviceInfo{cm: cm}
	var problems []string
	if cm.Labels["mx-consumer-cim"] != "true" {
		problems = append(problems, fmt.Sprintf("label mx-consumer-cim = %q, want \"true\" (Volcano ignores the ConfigMap without it)", cm.Labels["mx-consumer-cim"]))
	}
	for _, key := range []string{"DeviceInfoCfg", "ManuallySeparateNPU", "UpgradeFaultReason"} {
		if _, ok := cm.Data[key]; !ok {
			problems = append(problems, "key "+key+" missing")
		}
	}
	if err := json.Unmarshal([]byte(cm.Data["DeviceInfoCfg"]), &d.cfg); err != nil {
		problems = append(problems, fmt.Sprintf("DeviceInfoCfg is no JSON of the §5 shape: %v: %q", err, cm.Data["DeviceInfoCfg"]))
		return d, problems, nil
	}
	if want := checkCode(d.cfg.DeviceInfo.DeviceList, d.cfg.DeviceInfo.UpdateTime); d.cfg.CheckCode != want {
		problems = append(problems, fmt.Sprintf("CheckCode %q, want %q (SHA-256 of Go's encoding/json of DeviceList and UpdateTime)", d.cfg.CheckCode, want))
	}
	if d.cfg.SuperPodID != -2 || d.cfg.ServerIndex != -2 {
		problems = append(problems, fmt.Sprintf("SuperPodID %d ServerIndex %d, want -2 -2 on a part without super-pod info (compat §11)", d.cfg.SuperPodID, d.cfg.ServerIndex))
	}
	return d, problems, nil
}

// waitDeviceInfo polls the device-info ConfigMap (every 200 ms) until it is
// well-formed and ok holds.
func waitDeviceInfo(ctx context.Context, c *kubernetes.Clientset, node string, limit time.Duration, what string, ok func(deviceInfo) bool) (deviceInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	var last deviceInfo
	var lastProblems []string
	var lastErr error
	for {
		d, problems, err := readDeviceInfo(ctx, c, node)
		if err == nil && len(problems) == 0 && ok(d) {
			return d, nil
		}
		if err == nil {
			last = d
		}
		lastProblems, lastErr = problems, err
		select {
		case <-ctx.Done():
			data := map[string]string{}
			if last.cm != nil {
				data = last.cm.Data
			}
			return last, fmt.Errorf("ConfigMap kube-system/%s%s: %s not within %v (started %v ago); problems %q; last error %v; last data %v",
				deviceInfoPrefix, node, what, limit, time.Since(start).Round(time.Millisecond), lastProblems, lastErr, data)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// allChips is Ascend910-0 .. Ascend910-(n-1), sorted as strings.
func allChips(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = chipName(i)
	}
	sort.Strings(out)
	return out
}

// minus is a without the members of b, sorted.
func minus(a []string, b ...string) []string {
	drop := map[string]bool{}
	for _, x := range b {
		drop[x] = true
	}
	var out []string
	for _, x := range a {
		if !drop[x] {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// setManuallySeparated is the operator editing ManuallySeparateNPU.
func setManuallySeparated(ctx context.Context, admin *kubernetes.Clientset, node, value string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := admin.CoreV1().ConfigMaps("kube-system").Get(ctx, deviceInfoPrefix+node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data["ManuallySeparateNPU"] = value
		_, err = admin.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
}

// healthyExactly: resource's allocatable devices are exactly want.
func healthyExactly(resource string, want []string) func(dmapi.Resources) bool {
	return func(r dmapi.Resources) bool {
		return equal(healthyIDs(r, resource), sortedCopy(want))
	}
}
