// Command apiserver runs a private control plane for the end-to-end tests:
// embedded etcd plus kube-apiserver built from k8s.io/kubernetes
// (cmd/kube-apiserver/app), serving on 127.0.0.1 only with
// --authorization-mode=Node,RBAC.
//
// In -dir it writes admin.kubeconfig (system:masters), sa.kubeconfig (a
// token for -service-account, whose only rights are the RBAC objects applied
// from -rbac-dir) and, last, ready.json. SIGTERM stops it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"ascend-device-plugin/tests/e2e/internal/apiserver"
)

// Ready is the content of ready.json.
type Ready struct {
	URL            string              `json:"url"`
	CAFile         string              `json:"ca_file"`
	AdminConfig    string              `json:"admin_kubeconfig"`
	SAConfig       string              `json:"sa_kubeconfig"`
	ServiceAccount string              `json:"service_account"`
	Applied        []apiserver.Applied `json:"applied"`
}

func main() {
	dir := flag.String("dir", "", "state directory: etcd data, certificates, kubeconfigs (required)")
	rbacDir := flag.String("rbac-dir", "", "directory whose *.yaml RBAC objects and ServiceAccounts are applied (required)")
	account := flag.String("service-account", "kube-system/ascend-device-plugin", "namespace/name of the plugin's ServiceAccount")
	flag.Parse()
	if err := run(*dir, *rbacDir, *account); err != nil {
		fmt.Fprintln(os.Stderr, "apiserver:", err)
		os.Exit(1)
	}
}

func run(dir, rbacDir, account string) error {
	if dir == "" || rbacDir == "" {
		return fmt.Errorf("-dir and -rbac-dir are required")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	cp, admin, err := apiserver.Start(ctx, apiserver.Options{Dir: dir})
	if err != nil {
		return err
	}
	applied, err := apiserver.ApplyRBAC(ctx, admin, rbacDir)
	if err != nil {
		return err
	}
	sa, err := apiserver.ServiceAccountConfig(ctx, admin, account)
	if err != nil {
		return err
	}
	ready := Ready{
		URL: cp.URL, CAFile: cp.CAFile, ServiceAccount: account, Applied: applied,
		AdminConfig: filepath.Join(dir, "admin.kubeconfig"),
		SAConfig:    filepath.Join(dir, "sa.kubeconfig"),
	}
	if err := apiserver.WriteKubeconfig(ready.AdminConfig, admin, "e2e-admin", "default"); err != nil {
		return err
	}
	ns, _, _ := strings.Cut(account, "/")
	if err := apiserver.WriteKubeconfig(ready.SAConfig, sa, "service-account", ns); err != nil {
		return err
	}
	data, err := json.MarshalIndent(ready, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "ready.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "ready.json")); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "apiserver: ready at", cp.URL)
	return cp.Wait()
}
