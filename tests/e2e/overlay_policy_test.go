package e2e

// What a stolen token of the plugin on one node can do, for every shipped
// overlay: the rendered manifest's RBAC and admission policies applied to a
// real kube-apiserver as they are, a token bound to the plugin's pod on
// node-a (as the DaemonSet's projected token is), and every write the
// plugin makes (allowed) next to the ones an attacker would make (refused,
// by the layer that should refuse them). Also the runtime-env policy every
// overlay carries, and the optional scheduler-only annotation guard.

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"ascend-device-plugin/tests/e2e/internal/apiserver"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

const (
	ownNodePolicy    = "ascend-device-plugin-own-node"
	runtimeEnvPolicy = "ascend-device-plugin-runtime-env"
	guardPolicy      = "ascend-device-plugin-volcano-annotations"
	volcanoScheduler = "system:serviceaccount:volcano-system:volcano-scheduler"
)

// outcome is who must answer a request: nobody refuses it (allowed), RBAC,
// or the named admission policy.
type outcome struct{ refusedBy string }

var (
	allowed = outcome{}
	byRBAC  = outcome{"RBAC"}
)

func byPolicy(name string) outcome { return outcome{name} }

// check compares err with want and returns a line for the report, or an
// error describing the mismatch.
func check(what string, want outcome, err error) (string, error) {
	got := "allowed"
	if err != nil {
		switch msg := err.Error(); {
		case !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err):
			got = "error: " + msg
		case strings.Contains(msg, "ValidatingAdmissionPolicy '"):
			got = "unknown policy"
			for _, p := range []string{ownNodePolicy, runtimeEnvPolicy, guardPolicy} {
				if strings.Contains(msg, "ValidatingAdmissionPolicy '"+p+"'") {
					got = p
				}
			}
		case strings.Contains(msg, "is forbidden: User"):
			got = "RBAC"
		default:
			got = "error: " + msg
		}
	}
	wantS := "allowed"
	if want.refusedBy != "" {
		wantS = want.refusedBy
	}
	if got != wantS {
		return "", fmt.Errorf("%s: got %s, want %s (%v)", what, got, wantS, err)
	}
	if want.refusedBy == "" {
		return "allowed  " + what, nil
	}
	return "refused  " + what + " (by " + want.refusedBy + ")", nil
}

type step struct {
	what string
	want outcome
	do   func() error
}

func runSteps(t *testing.T, overlay string, steps []step) {
	t.Helper()
	for _, s := range steps {
		line, err := check(s.what, s.want, s.do())
		if err != nil {
			t.Errorf("%s: %v", overlay, err)
			continue
		}
		t.Logf("%s: %s", overlay, line)
	}
}

func TestATokenOfOneNodeReachesNothingBeyondItInEveryOverlay(t *testing.T) {
	testbed.RequirePlugin(t)
	overlays := []string{"910", "910-volcano", "310", "310-volcano", "310p", "310p-volcano", "310p-dynamic-vnpu"}
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			ctx := scenario(t, 3*time.Minute)
			cp := testbed.StartControlPlaneWithPolicies(t, filepath.Join("..", "..", "deploy", "rendered", overlay+".yaml"))
			tokenOfNodeA(ctx, t, cp, overlay)
			runtimeEnv(ctx, t, cp, overlay)
			if overlay == "910-volcano" {
				annotationGuard(ctx, t, cp)
			}
		})
	}
}

// merge is a JSON merge patch.
func merge(s string) []byte { return []byte(s) }

func tokenOfNodeA(ctx context.Context, t *testing.T, cp *testbed.ControlPlane, overlay string) {
	admin := client(t, cp.AdminConfig)
	for i, node := range []string{"node-a", "node-b"} {
		createNode(ctx, t, admin, node, fmt.Sprintf("192.0.2.%d", 60+i), nil)
	}
	if _, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "work"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	work := func(name, node string) {
		automount := false
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "x"}},
			Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: "work", AutomountServiceAccountToken: &automount,
				Containers: []corev1.Container{{Name: "c", Image: "train:1"}}},
		}
		if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	work("work-a", "node-a")
	work("work-b", "node-b")
	for _, name := range []string{"coredns", "mindx-dl-fault-config"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
		if _, err := admin.CoreV1().ConfigMaps("kube-system").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bound := testbed.TokenClient(t, cp, testbed.MintToken(ctx, t, cp, testbed.PluginPod(ctx, t, cp, "node-a")).Token)
	unbound := testbed.TokenClient(t, cp, testbed.MintToken(ctx, t, cp, nil).Token)

	cms := bound.CoreV1().ConfigMaps("kube-system")
	deviceInfo := func(node string) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: deviceInfoPrefix + node, Labels: map[string]string{"mx-consumer-cim": "true"}},
			Data:       map[string]string{"DeviceInfoCfg": "{}"},
		}
	}
	// The API server loads a new policy within a second or two: wait until
	// the policy refuses what only it refuses.
	waitFor(ctx, t, "the admission policy to take effect", func() bool {
		_, err := cms.Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "coredns"}, Data: map[string]string{"Corefile": "evil"}}, metav1.UpdateOptions{})
		return err != nil && strings.Contains(err.Error(), ownNodePolicy)
	})
	nodePatch := func(c *kubernetes.Clientset, node, patch string) func() error {
		return func() error {
			_, err := c.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, merge(patch), metav1.PatchOptions{})
			return err
		}
	}
	podPatch := func(name, patch string) func() error {
		return func() error {
			_, err := bound.CoreV1().Pods("default").Patch(ctx, name, types.MergePatchType, merge(patch), metav1.PatchOptions{})
			return err
		}
	}
	event := func(ns, node string) func() error {
		return func() error {
			_, err := bound.CoreV1().Events(ns).Create(ctx, &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{GenerateName: "npu-"},
				InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: node},
				Reason:         "NPUUnhealthy", Message: "m", Type: corev1.EventTypeWarning,
			}, metav1.CreateOptions{})
			return err
		}
	}
	if _, err := admin.CoreV1().Nodes().Patch(ctx, "node-a", types.MergePatchType, merge(`{"metadata":{"labels":{"huawei.com/Ascend910-Recover":"Ascend910-0"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	// What the plugin on node-a does, in every mode.
	steps := []step{
		{"create its device-info ConfigMap", allowed, func() error { _, err := cms.Create(ctx, deviceInfo("node-a"), metav1.CreateOptions{}); return err }},
		{"update its device-info ConfigMap", allowed, func() error { _, err := cms.Update(ctx, deviceInfo("node-a"), metav1.UpdateOptions{}); return err }},
		{"list its device-info ConfigMap by name", allowed, func() error {
			_, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + deviceInfoPrefix + "node-a"})
			return err
		}},
		{"watch mindx-dl-fault-config by name", allowed, func() error {
			seconds := int64(1)
			w, err := cms.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=mindx-dl-fault-config", TimeoutSeconds: &seconds})
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"label and annotate its node with its own keys", allowed, nodePatch(bound, "node-a",
			`{"metadata":{"labels":{"accelerator":"huawei-Ascend910","servertype":"Ascend910B-20"},"annotations":{"baseDeviceInfos":"{}","superPodID":"-2"}}}`)},
		{"remove the operator's recover label from its node", allowed, nodePatch(bound, "node-a", `{"metadata":{"labels":{"huawei.com/Ascend910-Recover":null}}}`)},
		{"record an Event about its node", allowed, event("default", "node-a")},

		// A token of node A against node B, the cluster and its own node.
		{"patch node B's labels", byPolicy(ownNodePolicy), nodePatch(bound, "node-b", `{"metadata":{"labels":{"accelerator":"huawei-Ascend910"}}}`)},
		{"cordon its own node", byPolicy(ownNodePolicy), nodePatch(bound, "node-a", `{"spec":{"unschedulable":true}}`)},
		{"taint its own node", byPolicy(ownNodePolicy), nodePatch(bound, "node-a", `{"spec":{"taints":[{"key":"x","effect":"NoSchedule"}]}}`)},
		{"give its node a foreign label", byPolicy(ownNodePolicy), nodePatch(bound, "node-a", `{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":""}}}`)},
		{"give its node a foreign annotation", byPolicy(ownNodePolicy), nodePatch(bound, "node-a", `{"metadata":{"annotations":{"node.alpha.kubernetes.io/ttl":"0"}}}`)},
		{"set a recover label (only removing one is the plugin's)", byPolicy(ownNodePolicy), nodePatch(bound, "node-a", `{"metadata":{"labels":{"huawei.com/Ascend910-Recover":"Ascend910-1"}}}`)},
		{"add a finalizer to its node", byPolicy(ownNodePolicy), nodePatch(bound, "node-a", `{"metadata":{"finalizers":["x.example/hold"]}}`)},
		{"overwrite coredns in kube-system", byPolicy(ownNodePolicy), func() error {
			_, err := cms.Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "coredns"}, Data: map[string]string{"Corefile": "evil"}}, metav1.UpdateOptions{})
			return err
		}},
		{"create node B's device-info ConfigMap", byPolicy(ownNodePolicy), func() error { _, err := cms.Create(ctx, deviceInfo("node-b"), metav1.CreateOptions{}); return err }},
		{"record an Event about node B", byPolicy(ownNodePolicy), event("default", "node-b")},
		{"write with a token not bound to a pod", byPolicy(ownNodePolicy), func() error {
			_, err := unbound.CoreV1().ConfigMaps("kube-system").Create(ctx, deviceInfo("node-a2"), metav1.CreateOptions{})
			return err
		}},
		{"record an Event in kube-system", byRBAC, event("kube-system", "node-a")},
		{"delete its device-info ConfigMap", byRBAC, func() error { return cms.Delete(ctx, deviceInfoPrefix+"node-a", metav1.DeleteOptions{}) }},
		{"read Secrets in kube-system", byRBAC, func() error {
			_, err := bound.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"patch its node's status", byRBAC, func() error {
			_, err := bound.CoreV1().Nodes().PatchStatus(ctx, "node-a", merge(`{"status":{"capacity":{"huawei.com/Ascend910":"64"}}}`))
			return err
		}},
		{"delete node B", byRBAC, func() error { return bound.CoreV1().Nodes().Delete(ctx, "node-b", metav1.DeleteOptions{}) }},
		{"create a pod", byRBAC, func() error {
			_, err := bound.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}, metav1.CreateOptions{})
			return err
		}},
	}
	// Pods: Volcano mode patches pods of its node (own keys only); the
	// other modes have no pod grant at all.
	pods := byRBAC
	if slices.Contains(overlayArgs(t, overlay), "-volcanoType=true") {
		pods = byPolicy(ownNodePolicy)
		steps = append(steps,
			step{"list the pods on its node", allowed, func() error {
				_, err := bound.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-a"})
				return err
			}},
			step{"write its annotations on a pod of its node", allowed, podPatch("work-a",
				`{"metadata":{"annotations":{"huawei.com/AscendReal":"Ascend910-0","huawei.com/kltDev":"Ascend910-0","predicate-time":"18446744073709551615"}}}`)},
		)
	} else {
		steps = append(steps, step{"list the pods on its node", byRBAC, func() error {
			_, err := bound.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-a"})
			return err
		}})
	}
	steps = append(steps,
		step{"annotate a pod on node B", pods, podPatch("work-b", `{"metadata":{"annotations":{"huawei.com/AscendReal":"Ascend910-0"}}}`)},
		step{"change the image of a pod on its node", pods, podPatch("work-a", `{"spec":{"containers":[{"name":"c","image":"evil:1"}]}}`)},
		step{"relabel a pod on its node", pods, podPatch("work-a", `{"metadata":{"labels":{"app":"other"}}}`)},
		step{"set a foreign annotation on a pod of its node", pods, podPatch("work-a", `{"metadata":{"annotations":{"sidecar.example/inject":"true"}}}`)},
		step{"set predicate-time to another value", pods, podPatch("work-a", `{"metadata":{"annotations":{"predicate-time":"1"}}}`)},
		step{"add a finalizer to a pod of its node", pods, podPatch("work-a", `{"metadata":{"finalizers":["x.example/hold"]}}`)},
		step{"hand a pod of its node to another owner", pods, podPatch("work-a",
			`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"coredns","uid":"00000000-0000-0000-0000-000000000001"}]}}`)},
	)
	runSteps(t, overlay, steps)
}

// runtimeEnv: the runtime-env policy every overlay carries.
func runtimeEnv(ctx context.Context, t *testing.T, cp *testbed.ControlPlane, overlay string) {
	admin := client(t, cp.AdminConfig)
	automount := false
	npu := resource.MustParse("1")
	mk := func(ns, name string, env []corev1.EnvVar, init bool) *corev1.Pod {
		sa := "work"
		if ns == "kube-system" {
			sa = "ascend-device-plugin"
		}
		c := corev1.Container{Name: "c", Image: "infer:1", Env: env,
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"huawei.com/Ascend910": npu}}}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PodSpec{NodeName: "node-a", ServiceAccountName: sa, AutomountServiceAccountToken: &automount, Containers: []corev1.Container{c}}}
		if init {
			pod.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "x", Env: env}}
			pod.Spec.Containers[0].Env = nil
		}
		return pod
	}
	create := func(p *corev1.Pod) func() error {
		return func() error {
			_, err := admin.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
			return err
		}
	}
	visible := []corev1.EnvVar{{Name: "ASCEND_VISIBLE_DEVICES", Value: "0-7"}}
	options := []corev1.EnvVar{{Name: "ASCEND_RUNTIME_OPTIONS", Value: "NODRV"}}
	daemon := mk("kube-system", "ascend-device-plugin-910-x", append(visible, options...), false)
	daemon.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ascend-device-plugin-910", UID: "00000000-0000-0000-0000-000000000002"}}
	ephemeral := func() error {
		pod, err := admin.CoreV1().Pods("default").Get(ctx, "work-a", metav1.GetOptions{})
		if err != nil {
			return err
		}
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "x", Env: visible}})
		_, err = admin.CoreV1().Pods("default").UpdateEphemeralContainers(ctx, "work-a", pod, metav1.UpdateOptions{})
		return err
	}
	probes := 0
	waitFor(ctx, t, "the runtime-env policy to take effect", func() bool {
		probes++
		err := create(mk("default", fmt.Sprintf("probe-%d", probes), visible, false))()
		return err != nil && strings.Contains(err.Error(), runtimeEnvPolicy)
	})
	runSteps(t, overlay, []step{
		{"a pod setting ASCEND_VISIBLE_DEVICES", byPolicy(runtimeEnvPolicy), create(mk("default", "env-visible", visible, false))},
		{"an init container setting ASCEND_RUNTIME_OPTIONS", byPolicy(runtimeEnvPolicy), create(mk("default", "env-options", options, true))},
		{"an ephemeral container setting ASCEND_VISIBLE_DEVICES", byPolicy(runtimeEnvPolicy), ephemeral},
		{"the same variables on a look-alike outside kube-system", byPolicy(runtimeEnvPolicy), create(func() *corev1.Pod {
			p := daemon.DeepCopy()
			p.Namespace, p.Spec.ServiceAccountName = "default", "work"
			return p
		}())},
		{"an ordinary NPU pod (resources only)", allowed, create(mk("default", "npu-pod", nil, false))},
		{"the plugin's own DaemonSet pod", allowed, create(daemon)},
	})
}

// annotationGuard: the optional scheduler-only policy, applied from its
// component as shipped.
func annotationGuard(ctx context.Context, t *testing.T, cp *testbed.ControlPlane) {
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apiserver.ApplyPolicies(ctx, cfg, filepath.Join("..", "..", "deploy", "components", "volcano-annotation-guard", "policy.yaml")); err != nil {
		t.Fatal(err)
	}
	admin := client(t, cp.AdminConfig)
	// The scheduler, impersonated by the admin and given rights to pods.
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-scheduler"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: volcanoScheduler}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	scfg := *cfg
	scfg.Impersonate.UserName = volcanoScheduler
	scheduler, err := kubernetes.NewForConfig(&scfg)
	if err != nil {
		t.Fatal(err)
	}
	automount := false
	forged := func(name string, ann map[string]string) func() error {
		return func() error {
			_, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann},
				Spec: corev1.PodSpec{NodeName: "node-a", ServiceAccountName: "work", AutomountServiceAccountToken: &automount,
					Containers: []corev1.Container{{Name: "c", Image: "x"}}},
			}, metav1.CreateOptions{})
			return err
		}
	}
	patch := func(c *kubernetes.Clientset, patch string) func() error {
		return func() error {
			_, err := c.CoreV1().Pods("default").Patch(ctx, "work-b", types.MergePatchType, merge(patch), metav1.PatchOptions{})
			return err
		}
	}
	probes := 0
	waitFor(ctx, t, "the annotation guard to take effect", func() bool {
		probes++
		err := forged(fmt.Sprintf("probe-guard-%d", probes), map[string]string{"predicate-time": "1"})()
		return err != nil && strings.Contains(err.Error(), guardPolicy)
	})
	runSteps(t, "910-volcano+volcano-annotation-guard", []step{
		{"a user creates a pod bound to a node with a forged chip claim", byPolicy(guardPolicy),
			forged("forged", map[string]string{"huawei.com/Ascend910": "Ascend910-3", "predicate-time": "1"})},
		{"a user adds a chip claim to a pod", byPolicy(guardPolicy), patch(admin, `{"metadata":{"annotations":{"huawei.com/Ascend910":"Ascend910-3"}}}`)},
		{"a user sets a vNPU claim", byPolicy(guardPolicy), patch(admin, `{"metadata":{"annotations":{"huawei.com/npu-core":"0-vir02"}}}`)},
		{"the scheduler writes the chip claim and predicate-time", allowed,
			patch(scheduler, `{"metadata":{"annotations":{"huawei.com/Ascend910":"Ascend910-3","predicate-time":"5"}}}`)},
		{"a user changes another annotation of the claimed pod", allowed, patch(admin, `{"metadata":{"annotations":{"team":"a"}}}`)},
		{"a user changes the claim the scheduler wrote", byPolicy(guardPolicy), patch(admin, `{"metadata":{"annotations":{"huawei.com/Ascend910":"Ascend910-4"}}}`)},
		{"a user creates an ordinary pod", allowed, forged("ordinary", nil)},
	})
}

// waitFor polls ok (every 200 ms, 30 s at most).
func waitFor(ctx context.Context, t *testing.T, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: not within 30s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
