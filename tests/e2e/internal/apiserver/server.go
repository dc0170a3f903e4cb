package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// Options configures a control plane.
type Options struct {
	// Dir holds certificates, keys, tokens, the port, the audit log and the
	// written kubeconfigs (and etcd data when etcd runs in this process).
	// Start reuses whatever an earlier Start left there, so kube-apiserver
	// restarted on the same Dir is the same server to its clients: same
	// URL, serving certificate, admin token and ServiceAccount signing key.
	Dir string
	// EtcdURL is the etcd to use; empty: start one in this process.
	EtcdURL string
}

// ControlPlane is a running kube-apiserver (and etcd when it runs in this
// process).
type ControlPlane struct {
	URL    string
	CAFile string
	// AuditLog is kube-apiserver's audit log (JSON lines, level Metadata).
	AuditLog string
	errc     chan error
	stopEtcd func()
}

// auditPolicy logs every request at level Metadata (who, verb, resource,
// namespace, name, response code), once it completes (or starts streaming).
// The API server's own loopback requests are left out.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:apiserver"]
- level: Metadata
`

// Start brings up kube-apiserver (and etcd, unless opts.EtcdURL names one)
// and waits until the API server is ready. The API server stops on
// SIGTERM/SIGINT (its own signal handler); Wait returns then.
func Start(ctx context.Context, opts Options) (*ControlPlane, *rest.Config, error) {
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, nil, err
	}
	cp := &ControlPlane{stopEtcd: func() {}, errc: make(chan error, 1)}
	etcdURL := opts.EtcdURL
	if etcdURL == "" {
		etcd, url, err := startEtcd(opts.Dir)
		if err != nil {
			return nil, nil, err
		}
		cp.stopEtcd, etcdURL = etcd.Close, url
	}
	fail := func(err error) (*ControlPlane, *rest.Config, error) {
		cp.stopEtcd()
		return nil, nil, err
	}

	saKey := filepath.Join(opts.Dir, "sa.key")
	if err := keep(saKey, writeSigningKey); err != nil {
		return fail(err)
	}
	tokens := filepath.Join(opts.Dir, "tokens.csv")
	if err := keep(tokens, writeAdminToken); err != nil {
		return fail(err)
	}
	token, err := adminToken(tokens)
	if err != nil {
		return fail(err)
	}
	port, err := keptPort(filepath.Join(opts.Dir, "port"))
	if err != nil {
		return fail(err)
	}
	policy := filepath.Join(opts.Dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return fail(err)
	}
	certDir := filepath.Join(opts.Dir, "certs")
	cp.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	// The generated serving certificate bundle (serving cert + its CA),
	// reused by a restart on the same directory.
	cp.CAFile = filepath.Join(certDir, "apiserver.crt")
	cp.AuditLog = filepath.Join(opts.Dir, "audit.log")

	cmd := app.NewAPIServerCommand()
	cmd.SetArgs([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + certDir,
		"--authorization-mode=Node,RBAC",
		"--token-auth-file=" + tokens,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saKey,
		"--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
		"--enable-priority-and-fairness=false",
		// SIGTERM: drain ordinary requests, then at most 2 s for the HTTP
		// server (long-running watches would otherwise hold it 60 s).
		"--shutdown-send-retry-after=true",
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + cp.AuditLog,
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
	})
	go func() { cp.errc <- cmd.Execute() }()

	admin := &rest.Config{
		Host:            cp.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: cp.CAFile},
		QPS:             50,
		Burst:           100,
	}
	if err := cp.waitReady(ctx, admin); err != nil {
		return cp, nil, err
	}
	return cp, admin, nil
}

// keep creates path with write unless it exists already.
func keep(path string, write func(string) error) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return write(path)
}

// keptPort is the port recorded in path, or a free one recorded there.
func keptPort(path string) (int, error) {
	if data, err := os.ReadFile(path); err == nil {
		port, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		return port, nil
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	return port, os.WriteFile(path, []byte(strconv.Itoa(port)+"\n"), 0o600)
}

// waitReady polls /readyz until the API server answers ok.
func (cp *ControlPlane) waitReady(ctx context.Context, admin *rest.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var last error
	for {
		select {
		case err := <-cp.errc:
			cp.errc <- err
			return fmt.Errorf("kube-apiserver exited during start: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready: %v (last: %v)", ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
		if _, err := os.Stat(cp.CAFile); err != nil {
			last = err
			continue
		}
		client, err := kubernetes.NewForConfig(admin)
		if err != nil {
			return err
		}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		last = fmt.Errorf("readyz: %v %s", err, body)
	}
}

// Wait blocks until kube-apiserver exits (after SIGTERM), then stops etcd.
func (cp *ControlPlane) Wait() error {
	err := <-cp.errc
	cp.stopEtcd()
	return err
}

func writeSigningKey(path string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// writeAdminToken writes a token file with one random admin token in
// system:masters.
func writeAdminToken(path string) error {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return errors.New("no randomness for the admin token")
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(b)+`,e2e-admin,e2e-admin,"system:masters"`+"\n"), 0o600)
}

// adminToken reads the token back from the token file.
func adminToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	token, _, ok := strings.Cut(string(data), ",")
	if !ok || token == "" {
		return "", fmt.Errorf("%s holds no token", path)
	}
	return token, nil
}
