package testbed

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ControlPlane is a running cmd/apiserver (etcd + kube-apiserver).
type ControlPlane struct {
	URL            string `json:"url"`
	CAFile         string `json:"ca_file"`
	AdminConfig    string `json:"admin_kubeconfig"`
	SAConfig       string `json:"sa_kubeconfig"`
	ServiceAccount string `json:"service_account"`
	Applied        []struct {
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"applied"`
	Proc *Proc `json:"-"`
}

// StartControlPlane starts cmd/apiserver applying the RBAC objects under
// rbacDir and waits for its ready.json.
func StartControlPlane(t testing.TB, rbacDir string) *ControlPlane {
	t.Helper()
	b, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "e2e-cp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	proc := Start(t, "apiserver", filepath.Join(dir, "apiserver.log"), nil,
		b.APIServer, "-dir", filepath.Join(dir, "state"), "-rbac-dir", rbacDir)
	ready := filepath.Join(dir, "state", "ready.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		if data, err := os.ReadFile(ready); err == nil {
			cp := &ControlPlane{Proc: proc}
			if err := json.Unmarshal(data, cp); err != nil {
				t.Fatalf("reading %s: %v", ready, err)
			}
			return cp
		}
		if exited, err := proc.Exited(); exited {
			t.Fatalf("apiserver exited: %v\n%s", err, Tail(proc.Log, 40))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("apiserver not ready after 3 minutes\n%s", Tail(proc.Log, 40))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
