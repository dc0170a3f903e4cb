package testbed

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ControlPlane is a running control plane: etcd (cmd/apiserver -etcd-only)
// and kube-apiserver (cmd/apiserver) as two processes, so kube-apiserver
// can be stopped and started again on the same etcd.
type ControlPlane struct {
	URL            string `json:"url"`
	CAFile         string `json:"ca_file"`
	AdminConfig    string `json:"admin_kubeconfig"`
	SAConfig       string `json:"sa_kubeconfig"`
	ServiceAccount string `json:"service_account"`
	// AuditLog is kube-apiserver's audit log: JSON lines, level Metadata,
	// kept across restarts.
	AuditLog string `json:"audit_log"`
	Applied  []struct {
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"applied"`
	// RBAC is the manifest (file or directory) the ServiceAccount's rights
	// were applied from.
	RBAC string `json:"-"`
	// Etcd and Proc are the etcd and kube-apiserver processes.
	Etcd *Proc `json:"-"`
	Proc *Proc `json:"-"`
	// Starts are kube-apiserver's starts: from the process start until it
	// was ready. While it starts it may answer before its RBAC caches are
	// filled (a 403 for any request a role allows).
	Starts []Window `json:"-"`

	// Policies: the admission policies found in RBAC are applied too.
	Policies bool `json:"-"`

	dir, etcdURL, bin string
	// account is -service-account (empty: the harness's default, the
	// device-plugin mode's ServiceAccount).
	account string
}

// Window is a span of time.
type Window struct{ From, To time.Time }

// Contains reports whether t falls in the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.From) && !t.After(w.To) }

// ShippedRBAC is the plugin's RBAC as deploy/ ships it for a Volcano 910
// node (deploy/rendered/910-volcano.yaml, rendered from the kustomize
// overlays), or the copy in testdata/rbac-plugin when the repository has no
// rendered manifest yet.
func ShippedRBAC(t testing.TB) string {
	t.Helper()
	rendered := filepath.Join("..", "..", "deploy", "rendered", "910-volcano.yaml")
	if _, err := os.Stat(rendered); err == nil {
		t.Logf("RBAC from %s", rendered)
		return rendered
	}
	fallback := filepath.Join("testdata", "rbac-plugin", "rbac.yaml")
	t.Logf("RBAC from %s (%s does not exist)", fallback, rendered)
	return fallback
}

// StartControlPlane starts etcd and kube-apiserver, applying the RBAC
// objects found in rbac (a manifest file or a directory), and waits until
// the API server is ready.
func StartControlPlane(t testing.TB, rbac string) *ControlPlane {
	t.Helper()
	return startControlPlane(t, rbac, false, "")
}

// StartControlPlaneWithPolicies is StartControlPlane that also applies the
// admission policies found in rbac, as the shipped manifests carry them:
// the plugin then needs a pod-bound token (BoundKubeconfig).
func StartControlPlaneWithPolicies(t testing.TB, rbac string) *ControlPlane {
	t.Helper()
	return startControlPlane(t, rbac, true, "")
}

// StartControlPlaneWithPoliciesFor is StartControlPlaneWithPolicies whose
// sa.kubeconfig, PluginPod and MintToken are of ServiceAccount account
// (namespace/name), such as DRA mode's.
func StartControlPlaneWithPoliciesFor(t testing.TB, rbac, account string) *ControlPlane {
	t.Helper()
	return startControlPlane(t, rbac, true, account)
}

func startControlPlane(t testing.TB, rbac string, policies bool, account string) *ControlPlane {
	t.Helper()
	b, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "e2e-cp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("E2E_KEEP") != "" {
			t.Logf("keeping %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cp := &ControlPlane{RBAC: rbac, Policies: policies, dir: dir, bin: b.APIServer, account: account}
	cp.Etcd = Start(t, "etcd", filepath.Join(dir, "etcd.log"), nil, b.APIServer, "-etcd-only", "-dir", state)
	var etcd struct {
		URL string `json:"url"`
	}
	waitJSON(t, cp.Etcd, filepath.Join(state, "etcd.json"), &etcd)
	cp.etcdURL = etcd.URL
	cp.StartAPIServer(t)
	return cp
}

// StartAPIServer starts kube-apiserver (again) on the same etcd and state
// directory and waits until it is ready: same URL, certificate and tokens
// as before.
func (cp *ControlPlane) StartAPIServer(t testing.TB) {
	t.Helper()
	state := filepath.Join(cp.dir, "state")
	ready := filepath.Join(state, "ready.json")
	if err := os.Remove(ready); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	from := time.Now()
	args := []string{"-dir", state, "-etcd", cp.etcdURL, "-rbac", cp.RBAC}
	if cp.Policies {
		args = append(args, "-policies")
	}
	if cp.account != "" {
		args = append(args, "-service-account", cp.account)
	}
	cp.Proc = Start(t, "apiserver", filepath.Join(cp.dir, "apiserver.log"), nil, append([]string{cp.bin}, args...)...)
	// Only the JSON fields are decoded: the processes and paths stay.
	waitJSON(t, cp.Proc, ready, cp)
	cp.Starts = append(cp.Starts, Window{From: from, To: time.Now()})
}

// StopAPIServer stops kube-apiserver (SIGTERM, as a node's static pod is
// stopped; it exits within a few seconds); etcd keeps running.
func (cp *ControlPlane) StopAPIServer(t testing.TB) {
	t.Helper()
	cp.Proc.Stop(t)
}

// waitJSON waits (3 minutes at most) for proc to write path and decodes it.
func waitJSON(t testing.TB, proc *Proc, path string, into any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		if data, err := os.ReadFile(path); err == nil {
			if err := json.Unmarshal(data, into); err != nil {
				t.Fatalf("reading %s: %v", path, err)
			}
			return
		}
		if exited, err := proc.Exited(); exited {
			t.Fatalf("%s exited: %v\n%s", proc.Name, err, Tail(proc.Log, 40))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not write %s within 3 minutes\n%s", proc.Name, path, Tail(proc.Log, 40))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
