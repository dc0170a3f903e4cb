// Command apiserver runs a private control plane for the end-to-end tests:
// embedded etcd plus kube-apiserver built from k8s.io/kubernetes
// (cmd/kube-apiserver/app), serving on 127.0.0.1 only with
// --authorization-mode=Node,RBAC and an audit log (level Metadata).
//
//	apiserver -etcd-only -dir D                 etcd alone; writes D/etcd.json, runs until SIGTERM
//	apiserver -dir D -rbac R [-etcd URL]        kube-apiserver (with its own etcd unless -etcd)
//	apiserver -dir D -rbac R -node N            also creates Node N (as kubelet would register it)
//	apiserver -dir D -rbac R -policies          also applies the admission policies found in R
//
// In -dir it writes admin.kubeconfig (system:masters), sa.kubeconfig (a
// token for -service-account, whose only rights are the RBAC objects applied
// from -rbac, a manifest file or a directory of them) and, last, ready.json.
// Started again on the same -dir (and -etcd) it is the same API server to
// its clients: same URL, certificate, tokens; RBAC is applied again and the
// kubeconfigs are kept. SIGTERM stops it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"ascend-device-plugin/tests/e2e/internal/apiserver"
)

// Ready is the content of ready.json.
type Ready struct {
	URL            string              `json:"url"`
	CAFile         string              `json:"ca_file"`
	AdminConfig    string              `json:"admin_kubeconfig"`
	SAConfig       string              `json:"sa_kubeconfig"`
	ServiceAccount string              `json:"service_account"`
	AuditLog       string              `json:"audit_log"`
	Applied        []apiserver.Applied `json:"applied"`
}

// EtcdReady is the content of etcd.json (-etcd-only).
type EtcdReady struct {
	URL string `json:"url"`
}

func main() {
	dir := flag.String("dir", "", "state directory: etcd data, certificates, kubeconfigs, audit log (required)")
	rbac := flag.String("rbac", "", "manifest file, or directory of *.yaml, whose RBAC objects and ServiceAccounts are applied (required)")
	account := flag.String("service-account", "kube-system/ascend-device-plugin", "namespace/name of the plugin's ServiceAccount")
	etcdURL := flag.String("etcd", "", "client URL of a running etcd (default: start one in this process)")
	etcdOnly := flag.Bool("etcd-only", false, "run only etcd (data in -dir/etcd), write -dir/etcd.json, run until SIGTERM")
	node := flag.String("node", "", "create this Node object before ready.json (the benchmark's node; the scenarios create their own)")
	policies := flag.Bool("policies", false, "also apply the ValidatingAdmissionPolicies and their bindings found in -rbac (the plugin then needs a pod-bound token)")
	flag.Parse()
	var err error
	if *etcdOnly {
		err = runEtcd(*dir)
	} else {
		err = run(*dir, *rbac, *account, *etcdURL, *node, *policies)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiserver:", err)
		os.Exit(1)
	}
}

func runEtcd(dir string) error {
	if dir == "" {
		return errors.New("-dir is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	etcd, err := apiserver.StartEtcd(dir)
	if err != nil {
		return err
	}
	defer etcd.Close()
	if err := writeJSON(filepath.Join(dir, "etcd.json"), EtcdReady{URL: etcd.URL}); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "apiserver: etcd ready at", etcd.URL)
	select {
	case <-ctx.Done():
		return nil
	case err := <-etcd.Err():
		return fmt.Errorf("etcd failed: %w", err)
	}
}

func run(dir, rbac, account, etcdURL, node string, policies bool) error {
	if dir == "" || rbac == "" {
		return errors.New("-dir and -rbac are required")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	readyPath := filepath.Join(dir, "ready.json")
	if err := os.Remove(readyPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ctx := context.Background()
	cp, admin, err := apiserver.Start(ctx, apiserver.Options{Dir: dir, EtcdURL: etcdURL})
	if err != nil {
		return err
	}
	applied, err := apiserver.ApplyRBAC(ctx, admin, rbac)
	if err != nil {
		return err
	}
	if policies {
		more, err := apiserver.ApplyPolicies(ctx, admin, rbac)
		if err != nil {
			return err
		}
		if len(more) == 0 {
			return fmt.Errorf("-policies: %s has no ValidatingAdmissionPolicy", rbac)
		}
		applied = append(applied, more...)
	}
	ready := Ready{
		URL: cp.URL, CAFile: cp.CAFile, ServiceAccount: account, Applied: applied, AuditLog: cp.AuditLog,
		AdminConfig: filepath.Join(dir, "admin.kubeconfig"),
		SAConfig:    filepath.Join(dir, "sa.kubeconfig"),
	}
	if err := apiserver.WriteKubeconfig(ready.AdminConfig, admin, "e2e-admin", "default"); err != nil {
		return err
	}
	// A restart keeps the ServiceAccount's kubeconfig: clients holding it
	// (the plugin) go on with the same token.
	if _, err := os.Stat(ready.SAConfig); err != nil {
		sa, err := apiserver.ServiceAccountConfig(ctx, admin, account)
		if err != nil {
			return err
		}
		ns, _, _ := strings.Cut(account, "/")
		if err := apiserver.WriteKubeconfig(ready.SAConfig, sa, "service-account", ns); err != nil {
			return err
		}
	}
	if node != "" {
		if err := apiserver.CreateNode(ctx, admin, node); err != nil {
			return err
		}
	}
	if err := writeJSON(readyPath, ready); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "apiserver: ready at", cp.URL)
	return cp.Wait()
}

// writeJSON writes v to path atomically (readers poll for the file).
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
