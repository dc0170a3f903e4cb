// Package apiserver runs a private control plane for the end-to-end tests:
// an embedded etcd and kube-apiserver (k8s.io/kubernetes/cmd/kube-apiserver/app,
// the real command) on 127.0.0.1, RBAC and audit logging on, with an admin
// kubeconfig and a ServiceAccount kubeconfig whose rights come only from
// applied manifests.
package apiserver

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Etcd is a running single-member etcd.
type Etcd struct {
	// URL is the client URL.
	URL  string
	etcd *embed.Etcd
}

// StartEtcd starts a single-member etcd on loopback ports with its data in
// dir/etcd.
func StartEtcd(dir string) (*Etcd, error) {
	e, url, err := startEtcd(dir)
	if err != nil {
		return nil, err
	}
	return &Etcd{URL: url, etcd: e}, nil
}

// Close stops etcd.
func (e *Etcd) Close() { e.etcd.Close() }

// Err reports etcd failing while it runs.
func (e *Etcd) Err() <-chan error { return e.etcd.Err() }

// startEtcd starts a single-member etcd on loopback ports and returns it and
// its client URL.
func startEtcd(dir string) (*embed.Etcd, string, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}

	cfg := embed.NewConfig()
	cfg.Name = "e2e"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	// Test data: durability across a host crash does not matter, speed does.
	cfg.UnsafeNoFsync = true

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("starting etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("etcd failed: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("etcd not ready after 60s")
	}
	return e, client.String(), nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
