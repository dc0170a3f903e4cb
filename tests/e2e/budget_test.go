package e2e

// The API request budget (docs/operations.md, "API request budget"): every
// shipped overlay's plugin on its own simulated node, all against one real
// kube-apiserver with the shipped RBAC, each holding its own token of the
// plugin's ServiceAccount so the audit log tells their requests apart.

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

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
	// credentialID is the audit event's user extra naming the token used.
	credentialID = "authentication.kubernetes.io/credential-id"
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
}

func budgetCases() []budgetCase {
	const plain, volcano = 8, 10
	return []budgetCase{
		{"910", "910-8", "huawei.com/Ascend910", plain},
		{"910-volcano", "910-8", "huawei.com/Ascend910", volcano},
		{"310", "310-4", "huawei.com/Ascend310", plain},
		{"310-volcano", "310-4", "huawei.com/Ascend310", volcano},
		{"310p", "310p-duo-vnpu", "huawei.com/Ascend310P", plain},
		{"310p-volcano", "310p-duo-vnpu", "huawei.com/Ascend310P", volcano},
		{"310p-dynamic-vnpu", "310p-duo-vnpu", "huawei.com/npu-core", volcano},
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

// tokenKubeconfig mints a token of the plugin's ServiceAccount
// (TokenRequest) and writes a kubeconfig holding it; it returns the path
// and the token's credential ID as the audit log shows it.
func tokenKubeconfig(ctx context.Context, t *testing.T, cp *testbed.ControlPlane, dir string) (string, string) {
	t.Helper()
	admin := client(t, cp.AdminConfig)
	ns, name, _ := strings.Cut(cp.ServiceAccount, "/")
	seconds := int64(3600)
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Who the token is, as the API server resolves it (its JTI).
	review, err := admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: tr.Status.Token},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := review.Status.User.Extra[credentialID]
	if !review.Status.Authenticated || len(ids) != 1 {
		t.Fatalf("the API server gives the minted token no %s (authenticated %v, extra %v): the audit log could not tell the plugins apart",
			credentialID, review.Status.Authenticated, review.Status.User.Extra)
	}
	base, err := clientcmd.LoadFromFile(cp.SAConfig)
	if err != nil {
		t.Fatal(err)
	}
	kc := base.DeepCopy()
	for _, auth := range kc.AuthInfos {
		*auth = clientcmdapi.AuthInfo{Token: tr.Status.Token}
	}
	path := filepath.Join(dir, "plugin.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path, ids[0]
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
		ids := e.User.Extra[credentialID]
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
// reported.
func TestEveryOverlayStaysWithinItsIdleRequestBudget(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, 5*time.Minute)
	cp := testbed.StartControlPlane(t, testbed.ShippedRBAC(t))
	admin := client(t, cp.AdminConfig)
	type running struct {
		c       budgetCase
		node    string
		id      string
		started time.Time
		plugin  *testbed.Plugin
		cpu0    time.Duration
	}
	var all []*running
	for i, c := range budgetCases() {
		node := fmt.Sprintf("budget-%d", i)
		createNode(ctx, t, admin, node, fmt.Sprintf("192.0.2.%d", 20+i), nil)
		n := testbed.StartNode(t)
		kubeconfig, id := tokenKubeconfig(ctx, t, cp, n.Dir)
		flags := append(overlayArgs(t, c.overlay), fmt.Sprintf("-healthz-address=127.0.0.1:%d", freePort(t)))
		r := &running{c: c, node: node, id: id, started: time.Now()}
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
}
