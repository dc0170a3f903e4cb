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
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// Options configures a control plane.
type Options struct {
	// Dir holds etcd data, certificates, keys and the written kubeconfigs.
	Dir string
}

// ControlPlane is a running etcd + kube-apiserver.
type ControlPlane struct {
	URL      string
	CAFile   string
	errc     chan error
	stopEtcd func()
}

// Start brings up etcd and kube-apiserver and waits until the API server is
// ready. The API server stops on SIGTERM/SIGINT (its own signal handler);
// Wait returns then.
func Start(ctx context.Context, opts Options) (*ControlPlane, *rest.Config, error) {
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, nil, err
	}
	etcd, etcdURL, err := startEtcd(opts.Dir)
	if err != nil {
		return nil, nil, err
	}
	cp := &ControlPlane{stopEtcd: etcd.Close, errc: make(chan error, 1)}

	saKey := filepath.Join(opts.Dir, "sa.key")
	if err := writeSigningKey(saKey); err != nil {
		cp.stopEtcd()
		return nil, nil, err
	}
	token, err := randomToken()
	if err != nil {
		cp.stopEtcd()
		return nil, nil, err
	}
	tokens := filepath.Join(opts.Dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(token+`,e2e-admin,e2e-admin,"system:masters"`+"\n"), 0o600); err != nil {
		cp.stopEtcd()
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		cp.stopEtcd()
		return nil, nil, err
	}
	certDir := filepath.Join(opts.Dir, "certs")
	cp.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	// The generated serving certificate bundle (serving cert + its CA).
	cp.CAFile = filepath.Join(certDir, "apiserver.crt")

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

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", errors.New("no randomness for the admin token")
	}
	return hex.EncodeToString(b), nil
}
