package e2e

// The API request budget (docs/operations.md, "API request budget") and the
// RBAC audit of every overlay: every shipped overlay's plugin on its own
// simulated node, all against one real kube-apiserver with every rendered
// overlay's RBAC and admission policies applied, each holding its own token
// of the plugin's ServiceAccount, bound to a plugin pod on its node as the
// DaemonSet's projected token is, so the audit log tells their requests
// apart and the policies see the node.

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
	"ascend-device-plugin/tests/e2e/internal/manifest"
	"ascend-device-plugin/tests/e2e/internal/rbacaudit"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

const (
	// idleWindow is how long the plugins run untouched.
	idleWindow = 2 * time.Minute
	// startBurst is how long after its start a plugin may still be making
	// its start-up requests; after it, an idle plugin sends nothing until
	// a heartbeat (5 min) or a watch renewal (30 min) is due.
	startBurst = 30 * time.Second
)

// budgetCase is one overlay run on one simulated node.
type budgetCase struct {
	overlay  string
	topology string
	resource string
	// start is the written budget of requests in the start burst
	// (docs/operations.md): each watch lists then watches (2 requests: the
	// own Node, the own device-info ConfigMap, mindx-dl-fault-config, and in
	// Volcano mode the node's pods), one ConfigMap create, one Node patch.
	start int
	// claim is what Volcano writes on a pod to give it a device of the
	// node (Volcano overlays only): annotation key and value, and the
	// resource and count the pod asks for. An empty value takes the last
	// healthy device of resource.
	claim *claim
}

type claim struct {
	annotation, value, resource string
	count                       int64
}

func budgetCases() []budgetCase {
	const plain, volcano = 8, 10
	return []budgetCase{
		{"910", "910-8", "huawei.com/Ascend910", plain, nil},
		{"910-volcano", "910-8", "huawei.com/Ascend910", volcano, &claim{"huawei.com/Ascend910", "", "huawei.com/Ascend910", 1}},
		{"310", "310-4", "huawei.com/Ascend310", plain, nil},
		{"310-volcano", "310-4", "huawei.com/Ascend310", volcano, &claim{"huawei.com/Ascend310", "", "huawei.com/Ascend310", 1}},
		{"310p", "310p-duo-vnpu", "huawei.com/Ascend310P", plain, nil},
		{"310p-volcano", "310p-duo-vnpu", "huawei.com/Ascend310P", volcano, &claim{"huawei.com/Ascend310P", "", "huawei.com/Ascend310P", 1}},
		{"310p-dynamic-vnpu", "310p-duo-vnpu", "huawei.com/npu-core", volcano, &claim{"huawei.com/npu-core", "1-vir02", "huawei.com/npu-core", 2}},
	}
}

// overlayArgs are the plugin's arguments in deploy/rendered/<overlay>.yaml,
// without -logFile and the health endpoint's address (the harness sets
// those: one log per node, one port per plugin).
func overlayArgs(t *testing.T, overlay string) []string {
	t.Helper()
	objs, err := manifest.Read(filepath.Join("..", "..", "deploy", "rendered", overlay+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() != "DaemonSet" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if len(containers) == 0 {
			break
		}
		raw, _ := containers[0].(map[string]any)["args"].([]any)
		var args []string
		for _, a := range raw {
			s, _ := a.(string)
			if strings.HasPrefix(s, "-logFile=") || strings.HasPrefix(s, "-healthz-address=") {
				continue
			}
			args = append(args, s)
		}
		return args
	}
	t.Fatalf("deploy/rendered/%s.yaml has no DaemonSet with containers", overlay)
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// requestsBy are the requests (one per audit ID) made with credential id.
func requestsBy(events []auditv1.Event, id string) []auditv1.Event {
	seen := map[string]bool{}
	var out []auditv1.Event
	for _, e := range events {
		ids := e.User.Extra[testbed.CredentialID]
		if len(ids) != 1 || ids[0] != id || seen[string(e.AuditID)] {
			continue
		}
		seen[string(e.AuditID)] = true
		out = append(out, e)
	}
	return out
}

// Every shipped overlay, idle for two minutes after its start, makes no
// more API requests than its written budget, reads only through watches
// (no get, no polling), and is silent after its start burst; idle CPU is
// reported. Then each node gets a fault (a ConfigMap update, an Event) and,
// on Volcano overlays, a pod with Volcano's claim admitted through the
// device manager (the pod patches), and the audit log must show each
// overlay's plugin using every grant of its own rendered role and nothing
// outside it, with no request refused by RBAC or the admission policies.
func TestEveryOverlayStaysWithinItsIdleRequestBudget(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, 7*time.Minute)
	cp := testbed.StartControlPlaneWithPolicies(t, filepath.Join("..", "..", "deploy", "rendered"))
	admin := client(t, cp.AdminConfig)
	createNamespace(ctx, t, admin, jobs)
	type running struct {
		c       budgetCase
		node    string
		id      string
		started time.Time
		n       *testbed.Node
		plugin  *testbed.Plugin
		cpu0    time.Duration
	}
	var all []*running
	for i, c := range budgetCases() {
		node := fmt.Sprintf("budget-%d", i)
		createNode(ctx, t, admin, node, fmt.Sprintf("192.0.2.%d", 20+i), nil)
		n := testbed.StartNode(t)
		kubeconfig, tok := testbed.BoundKubeconfig(ctx, t, cp, node, n.Dir)
		flags := append(overlayArgs(t, c.overlay), fmt.Sprintf("-healthz-address=127.0.0.1:%d", freePort(t)))
		r := &running{c: c, node: node, id: tok.CredentialID, started: time.Now(), n: n}
		r.plugin = n.StartPlugin(t, testbed.PluginOptions{
			Topology: c.topology, AscendDockerRuntime: true, NodeName: node,
			Kubeconfig: kubeconfig, StateDir: filepath.Join(n.Dir, "state"), Flags: flags,
		})
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := n.WaitResources(wctx, c.resource+" registered", func(res dmapi.Resources) bool {
			_, ok := res.Resources[c.resource]
			return ok
		})
		cancel()
		if err != nil {
			t.Fatalf("%s on %s: %v", c.overlay, c.topology, err)
		}
		all = append(all, r)
	}
	// The CPU baseline once every start burst is over.
	time.Sleep(startBurst)
	for _, r := range all {
		cpu, err := r.plugin.Proc.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		r.cpu0 = cpu
	}
	measured := time.Now()
	last := all[len(all)-1].started
	time.Sleep(time.Until(last.Add(idleWindow)))
	events, err := rbacaudit.ReadLog(cp.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		reqs := requestsBy(events, r.id)
		var burst, after []string
		byVerb := map[string]int{}
		for _, e := range reqs {
			what := rbacaudit.Describe(e)
			byVerb[e.Verb+" "+e.ObjectRef.Resource]++
			if e.Verb == "get" {
				t.Errorf("%s: a GET (%s): reads come from watches", r.c.overlay, what)
			}
			if e.RequestReceivedTimestamp.Time.After(r.started.Add(startBurst)) {
				after = append(after, what)
			} else {
				burst = append(burst, what)
			}
		}
		if len(reqs) == 0 {
			t.Errorf("%s: no request with its token in the audit log", r.c.overlay)
		}
		if len(burst) > r.c.start {
			t.Errorf("%s: %d requests in its start burst, budget %d:\n  %s", r.c.overlay, len(burst), r.c.start, strings.Join(burst, "\n  "))
		}
		if len(after) > 0 {
			t.Errorf("%s: %d requests while idle after its start burst, budget 0 until the first heartbeat:\n  %s", r.c.overlay, len(after), strings.Join(after, "\n  "))
		}
		cpu, err := r.plugin.Proc.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		idle := time.Since(measured)
		var verbs []string
		for v, n := range byVerb {
			verbs = append(verbs, fmt.Sprintf("%s=%d", v, n))
		}
		sort.Strings(verbs)
		t.Logf("REPORT %-18s %-14s %2d requests (%s); idle CPU %.2f s/min",
			r.c.overlay, r.c.topology, len(reqs), strings.Join(verbs, ", "),
			(cpu-r.cpu0).Seconds()/idle.Minutes())
	}

	// Exercise what each mode does beyond idling, then audit each
	// overlay's requests against its own role.
	for _, r := range all {
		exercise(ctx, t, admin, r.c, r.node, r.n, r.plugin)
	}
	events, err = rbacaudit.ReadLog(cp.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		auditOverlay(t, r.c.overlay, cp, events, r.id)
	}
}

// exercise makes the plugin on node use every right its mode needs: a chip
// fault (device-info ConfigMap update, an Event about the node) and, in
// Volcano mode, a pod with Volcano's claim admitted by the device manager
// (predicate-time and the write-back patched on the pod).
func exercise(ctx context.Context, t *testing.T, admin *kubernetes.Clientset, c budgetCase, node string, n *testbed.Node, p *testbed.Plugin) {
	t.Helper()
	before, err := admin.CoreV1().ConfigMaps("kube-system").Get(ctx, deviceInfoPrefix+node, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: its device-info ConfigMap: %v", c.overlay, err)
	}
	p.Sim(t, "fault", "raise", "--phy", "0", "--code", faultCode, "--severity", "2")
	if _, err := waitConfigMapChange(ctx, admin, node, before.ResourceVersion); err != nil {
		t.Errorf("%s: the fault on chip 0 was not written: %v", c.overlay, err)
	}
	if c.claim == nil {
		return
	}
	value := c.claim.value
	if value == "" {
		res, err := n.DM.Resources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		healthy := healthyIDs(res, c.claim.resource)
		if len(healthy) == 0 {
			t.Fatalf("%s: no healthy %s to claim", c.overlay, c.claim.resource)
		}
		value = healthy[len(healthy)-1]
	}
	pod := claimPod(ctx, t, admin, "claim-"+node, node, c.claim, value)
	time.Sleep(watchSettle)
	if _, err := admitPod(ctx, n, pod); err != nil {
		t.Errorf("%s: admitting a pod claiming %s=%s: %v", c.overlay, c.claim.annotation, value, err)
		return
	}
	if _, err := waitPod(ctx, admin, pod.Namespace, pod.Name, 10*time.Second, "the plugin's annotations",
		func(p *corev1.Pod) bool {
			return p.Annotations[predicateTime] == consumed && p.Annotations[annKltDev] != ""
		}); err != nil {
		t.Errorf("%s: %v", c.overlay, err)
	}
}

// claimPod creates a pod as Volcano leaves it once bound: on node, asking
// cl.count of cl.resource, with cl.annotation = value and a predicate time.
func claimPod(ctx context.Context, t *testing.T, admin *kubernetes.Clientset, name, node string, cl *claim, value string) *corev1.Pod {
	t.Helper()
	n := resource.NewQuantity(cl.count, resource.DecimalSI)
	automount := false
	res := corev1.ResourceName(cl.resource)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: jobs,
			Annotations: map[string]string{cl.annotation: value, predicateTime: strconv.FormatInt(time.Now().UnixNano(), 10)},
		},
		Spec: corev1.PodSpec{
			NodeName: node, SchedulerName: "volcano", AutomountServiceAccountToken: &automount,
			Containers: []corev1.Container{{
				Name: "main", Image: "infer:1",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{res: *n}, Requests: corev1.ResourceList{res: *n}},
			}},
		},
	}
	created, err := admin.CoreV1().Pods(jobs).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", jobs, name, err)
	}
	return created
}

// waitConfigMapChange waits (healthLimit at most) until node's device-info
// ConfigMap has another resourceVersion than rv.
func waitConfigMapChange(ctx context.Context, admin *kubernetes.Clientset, node, rv string) (*corev1.ConfigMap, error) {
	ctx, cancel := context.WithTimeout(ctx, healthLimit)
	defer cancel()
	for {
		cm, err := admin.CoreV1().ConfigMaps("kube-system").Get(ctx, deviceInfoPrefix+node, metav1.GetOptions{})
		if err == nil && cm.ResourceVersion != rv {
			return cm, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ConfigMap %s%s unchanged within %v (last error %v)", deviceInfoPrefix, node, healthLimit, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// auditOverlay checks the requests of token id against the role of
// deploy/rendered/<overlay>.yaml: every grant used, nothing refused, and
// nothing allowed only by another overlay's role applied to the same API
// server.
func auditOverlay(t *testing.T, overlay string, cp *testbed.ControlPlane, events []auditv1.Event, id string) {
	t.Helper()
	objs, err := manifest.Read(filepath.Join("..", "..", "deploy", "rendered", overlay+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ns, name, _ := strings.Cut(cp.ServiceAccount, "/")
	grants, problems, err := rbacaudit.Grants(objs, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: the role is not minimal: %s", overlay, p)
	}
	r := rbacaudit.CheckBy(grants, events, func(e auditv1.Event) bool {
		ids := e.User.Extra[testbed.CredentialID]
		return len(ids) == 1 && ids[0] == id
	})
	for _, f := range r.Forbidden {
		t.Errorf("%s: refused (RBAC or admission policy): %s", overlay, f)
	}
	for _, u := range r.Uncovered {
		t.Errorf("%s: a request its own role does not allow: %s", overlay, u)
	}
	for _, g := range r.Unexercised {
		t.Errorf("%s: the role is not minimal: no request used %s", overlay, g)
	}
	var used []string
	for _, g := range grants {
		used = append(used, fmt.Sprintf("%s %s=%d", g.Verb, g.Resource, r.Exercised[g]))
	}
	t.Logf("REPORT rbac %-18s %3d requests; grants used: %s", overlay, r.Requests, strings.Join(used, ", "))
}
