package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"ascend-device-plugin/tests/e2e/internal/manifest"
	"ascend-device-plugin/tests/e2e/internal/rbacaudit"
	"ascend-device-plugin/tests/e2e/internal/testbed"
)

// outage is how long kube-apiserver stays down.
const outage = 60 * time.Second

// kube-apiserver stops for a minute (etcd keeps running) right after a
// Volcano allocation. Meanwhile both plugins keep serving kubelet: faults
// reach the device manager, the plain-mode node still allocates, a Volcano
// Allocate, which cannot consume the pod's predicate-time, is refused
// promptly, and waiting costs the plugins next to no CPU. Once the API
// server is back, the write-back of the allocation made before the outage
// is there (with HOST_IP as the node IP), both device-info ConfigMaps show
// the health as it is now, and the refused pod is admitted on retry.
func TestClusterPluginRidesOutAMinuteWithoutTheAPIServer(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, 4*time.Minute)
	topo := readTopology(t, "910-8")
	cp := testbed.StartControlPlane(t, testbed.ShippedRBAC(t))
	admin := client(t, cp.AdminConfig)
	// The Volcano node's plugin has HOST_IP: the configuration annotation
	// carries it, not the Node's InternalIP.
	const volcanoNode, volcanoIP, hostIP = testbed.DefaultNodeName, "192.0.2.10", "198.51.100.7"
	const plainNode, plainIP = "e2e-node-plain", "192.0.2.11"
	createNode(ctx, t, admin, volcanoNode, volcanoIP, nil)
	createNode(ctx, t, admin, plainNode, plainIP, nil)
	createNamespace(ctx, t, admin, jobs)
	periodFlag := fmt.Sprintf("-listWatchPeriod=%d", int(period/time.Second))
	nv, np := testbed.StartNode(t), testbed.StartNode(t)
	pv := nv.StartPlugin(t, testbed.PluginOptions{Topology: "910-8", AscendDockerRuntime: true, Kubeconfig: cp.SAConfig, HostIP: hostIP,
		StateDir: filepath.Join(nv.Dir, "state"), Flags: []string{"-volcanoType=true", periodFlag}})
	pp := np.StartPlugin(t, testbed.PluginOptions{Topology: "910-8", AscendDockerRuntime: true, Kubeconfig: cp.SAConfig,
		NodeName: plainNode, Flags: []string{periodFlag}})
	for _, n := range []*testbed.Node{nv, np} {
		if _, err := n.WaitResources(ctx, "8 chips", testbed.Allocatable(ascend910, 8)); err != nil {
			t.Fatal(err)
		}
	}
	all := allChips(8)
	for _, node := range []string{volcanoNode, plainNode} {
		if _, err := waitDeviceInfo(ctx, admin, node, 15*time.Second, "every chip free", func(d deviceInfo) bool {
			return equal(d.list(""), all)
		}); err != nil {
			t.Fatal(err)
		}
	}
	// servertype is written when the node has none.
	if node, err := admin.CoreV1().Nodes().Get(ctx, plainNode, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if want := fmt.Sprintf("Ascend910-%d", topo.Cards[0].Chips[0].AICore); node.Labels["servertype"] != want {
		t.Errorf("node %s without a servertype label got servertype = %q, want %q", plainNode, node.Labels["servertype"], want)
	}

	before := volcanoPod(ctx, t, admin, "before-outage", volcanoNode, []string{chipName(4), chipName(5)}, time.Now().UnixNano())
	during := volcanoPod(ctx, t, admin, "during-outage", volcanoNode, []string{chipName(3)}, time.Now().UnixNano())
	time.Sleep(watchSettle)
	a, err := admitPod(ctx, nv, before)
	if err != nil {
		t.Fatalf("admitting %s: %v", before.Name, err)
	}
	if got := visible(a); !equal(got, []string{"4", "5"}) {
		t.Errorf("ASCEND_VISIBLE_DEVICES = %v, want Volcano's [4 5]", got)
	}
	beforeIDs := a.Containers[0].Devices[ascend910]

	cp.StopAPIServer(t)
	down := time.Now()
	t.Logf("kube-apiserver stopped; etcd keeps running")
	cpuBefore := map[*testbed.Plugin]time.Duration{}
	for _, p := range []*testbed.Plugin{pv, pp} {
		if cpu, err := p.Proc.CPUTime(); err == nil {
			cpuBefore[p] = cpu
		}
	}

	// A chip no allocation involves, on each node.
	m := chipMap{}
	for _, id := range beforeIDs {
		m[id] = id
	}
	m[chipName(3)], m[chipName(4)], m[chipName(5)] = chipName(3), chipName(4), chipName(5)
	faultV, _ := m.unused(8)
	faultP := chipName(7)
	pv.Sim(t, "fault", "raise", "--phy", strconv.Itoa(phyOf(t, faultV)), "--code", faultCode, "--severity", "2")
	pp.Sim(t, "fault", "raise", "--phy", strconv.Itoa(phyOf(t, faultP)), "--code", faultCode, "--severity", "2")
	for _, x := range []struct {
		n    *testbed.Node
		chip string
	}{{nv, faultV}, {np, faultP}} {
		c := &cluster{ctx: ctx, n: x.n, m: chipMap{}}
		c.waitHealth(t, "API server down: "+x.chip+" unhealthy after a fault", minus(all, x.chip))
	}

	plain, err := np.DM.Admit(ctx, pod("plain-during-outage", ascend910, 2))
	if err != nil {
		t.Errorf("API server down: a plain-mode allocation failed: %v", err)
	}
	var plainIDs []string
	if err == nil {
		plainIDs = plain.Containers[0].Devices[ascend910]
		var want []string
		for _, id := range plainIDs {
			want = append(want, lastField(id))
		}
		if got := visible(plain); !equal(got, sortedCopy(want)) {
			t.Errorf("API server down: plain-mode ASCEND_VISIBLE_DEVICES = %v for %v", got, plainIDs)
		}
	}

	start := time.Now()
	_, err = admitPod(ctx, nv, during)
	took := time.Since(start)
	if !refused(err) {
		t.Errorf("API server down: a Volcano Allocate (pod %s in the watch cache, its predicate-time cannot be consumed): err = %v, want the plugin to refuse it", during.Name, err)
	} else {
		t.Logf("API server down: Volcano Allocate refused after %v: %s", took.Round(time.Millisecond), pluginMessage(err))
		if pluginMessage(err) == "" {
			t.Errorf("the refusal carries no message of the plugin: %v", err)
		}
	}
	if took > podWait+10*time.Second {
		t.Errorf("API server down: the Volcano Allocate took %v to fail; kubelet waits on it", took)
	}

	time.Sleep(time.Until(down.Add(outage)))
	// Waiting for the API server must not cost the node a core.
	for _, x := range []struct {
		p    *testbed.Plugin
		node string
	}{{pv, volcanoNode}, {pp, plainNode}} {
		cpu, err := x.p.Proc.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		used := cpu - cpuBefore[x.p]
		t.Logf("API server down: the plugin of %s used %v of CPU in %v", x.node, used, time.Since(down).Round(time.Second))
		if used > outage/10 {
			t.Errorf("API server down: the plugin of %s used %v of CPU in %v (more than 10%% of a core): is a retry loop without backoff spinning?", x.node, used, time.Since(down).Round(time.Second))
		}
	}
	cp.StartAPIServer(t)
	up := time.Now()
	t.Logf("kube-apiserver back after %v", up.Sub(down).Round(time.Second))

	pod, err := waitPod(ctx, admin, jobs, before.Name, 30*time.Second, "write-back of the allocation made just before the outage", writtenBack)
	if err != nil {
		t.Fatal(err)
	}
	checkWriteBack(t, topo, pod, hostIP, beforeIDs, []string{chipName(4), chipName(5)})
	t.Logf("write-back of %s present %v after the API server came back", before.Name, time.Since(up).Round(time.Millisecond))
	if p, err := admin.CoreV1().Pods(jobs).Get(ctx, during.Name, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if p.ResourceVersion != during.ResourceVersion {
		t.Errorf("pod %s, refused during the outage, was modified: annotations %v", during.Name, p.Annotations)
	}

	converge := func(node string, unhealthy, free []string) {
		t.Helper()
		d, err := waitDeviceInfo(ctx, admin, node, 30*time.Second, fmt.Sprintf("after the outage: unhealthy %v, free %v", unhealthy, free),
			func(d deviceInfo) bool {
				return equal(d.list("-Unhealthy"), unhealthy) && equal(d.list(""), free)
			})
		if err != nil {
			t.Error(err)
			return
		}
		t.Logf("ConfigMap of %s converged %v after the API server came back", node, time.Since(up).Round(time.Millisecond))
		if d.cfg.DeviceInfo.UpdateTime < down.Unix() {
			t.Errorf("ConfigMap of %s: UpdateTime %d is older than the outage (%d)", node, d.cfg.DeviceInfo.UpdateTime, down.Unix())
		}
	}
	converge(volcanoNode, []string{faultV}, minus(all, chipName(4), chipName(5), faultV))
	converge(plainNode, []string{faultP}, minus(all, append(plainIDs, faultP)...))

	// kubelet retries the refused pod: it goes through now.
	a, err = admitPod(ctx, nv, during)
	if err != nil {
		t.Fatalf("retrying %s after the outage: %v", during.Name, err)
	}
	if got := visible(a); !equal(got, []string{"3"}) {
		t.Errorf("retried %s got chips %v, want Volcano's [3]", during.Name, got)
	}
	if pod, err := waitPod(ctx, admin, jobs, during.Name, 10*time.Second, "write-back", writtenBack); err != nil {
		t.Error(err)
	} else {
		checkWriteBack(t, topo, pod, hostIP, a.Containers[0].Devices[ascend910], []string{chipName(3)})
	}

	pv.Sim(t, "fault", "clear", "--phy", strconv.Itoa(phyOf(t, faultV)))
	pp.Sim(t, "fault", "clear", "--phy", strconv.Itoa(phyOf(t, faultP)))
	converge(volcanoNode, nil, minus(all, chipName(3), chipName(4), chipName(5)))
	converge(plainNode, nil, minus(all, plainIDs...))

	requireNoForbidden(t, cp)
}

// requireNoForbidden fails for every request of the plugin's
// ServiceAccount the API server refused with 403.
func requireNoForbidden(t *testing.T, cp *testbed.ControlPlane) {
	t.Helper()
	objs, err := manifest.Read(cp.RBAC)
	if err != nil {
		t.Fatal(err)
	}
	ns, name, _ := strings.Cut(cp.ServiceAccount, "/")
	grants, _, err := rbacaudit.Grants(objs, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	logged, err := rbacaudit.ReadLog(cp.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	// A starting kube-apiserver serves before its RBAC caches are filled
	// and refuses then what the role allows: those answers say nothing
	// about the role (the plugin has to retry them, and the scenario
	// checks it converged).
	user := rbacaudit.Username(ns, name)
	var events []auditv1.Event
	starting, refused := 0, 0
	byKind := map[string]int{}
	for _, e := range logged {
		during := false
		for _, w := range cp.Starts {
			during = during || w.Contains(e.RequestReceivedTimestamp.Time)
		}
		if !during {
			events = append(events, e)
		} else if e.User.Username == user && e.Stage == auditv1.StageResponseComplete {
			starting++
			code := int32(0)
			if e.ResponseStatus != nil {
				code = e.ResponseStatus.Code
			}
			if code == 403 {
				refused++
			}
			kind := e.RequestURI
			if e.ObjectRef != nil {
				kind = e.ObjectRef.Resource
			}
			byKind[fmt.Sprintf("%s %s %d", e.Verb, kind, code)]++
		}
	}
	r := rbacaudit.Check(grants, events, user)
	if starting > 0 {
		t.Logf("audit: %d requests of the plugin while kube-apiserver was starting (%d refused 403) left out of the RBAC check: %v", starting, refused, byKind)
	}
	if r.Requests == 0 {
		t.Errorf("the audit log has no request by %s: the plugin did not use the ServiceAccount kubeconfig", cp.ServiceAccount)
	}
	for _, f := range r.Forbidden {
		t.Errorf("the shipped RBAC is not sufficient: the plugin's request %s", f)
	}
}

// With a kubeconfig the plugin needs NODE_NAME: without it, it exits
// non-zero and says so, before serving kubelet.
func TestClusterPluginWithAKubeconfigButNoNodeNameExitsNamingIt(t *testing.T) {
	testbed.RequirePlugin(t)
	ctx := scenario(t, time.Minute)
	n := testbed.StartNode(t)
	// Never reached: the check comes first.
	kubeconfig := filepath.Join(n.Dir, "unreachable.kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-a-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := n.StartPlugin(t, testbed.PluginOptions{Topology: "910-8", Kubeconfig: kubeconfig, NoNodeName: true})
	for {
		if exited, err := p.Proc.Exited(); exited {
			if err == nil {
				t.Errorf("the plugin exited 0 without NODE_NAME")
			}
			if out := testbed.Tail(p.Proc.Log, 20); !strings.Contains(out, "NODE_NAME") {
				t.Errorf("the plugin exited (%v) without naming NODE_NAME:\n%s", err, out)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the plugin still runs without NODE_NAME:\n%s", testbed.Tail(p.Proc.Log, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if all, _, err := n.Sockets(); err != nil {
		t.Fatal(err)
	} else if len(all) != 1 {
		t.Errorf("sockets %v: the plugin served kubelet before checking NODE_NAME", all)
	}
}
