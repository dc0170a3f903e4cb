// Command dramanager runs kubelet's own DRA manager
// (k8s.io/kubernetes/pkg/kubelet/cm/dra) and plugin manager
// (k8s.io/kubernetes/pkg/kubelet/pluginmanager) for one node, driven over
// HTTP/JSON on a unix socket (see internal/draapi for the protocol).
//
//	dramanager -control SOCK -kubeconfig KC -node NODE -state-dir DIR -registry-dir DIR
//
// Unlike the device manager, neither hard-codes /var/lib/kubelet, so it
// needs no mount namespace: the plugin watcher watches -registry-dir, the
// manager keeps its checkpoint (dra_manager_state) in -state-dir. Like
// kubelet, the manager wipes the node's ResourceSlices when it starts, and
// 30 s after the last plugin of a driver disconnected. A kubelet restart is
// this process stopped and started again on the same directories: the
// plugin watcher re-scans the registry directory, the manager reads its
// checkpoint. The active pods are the API server's pods bound to the node,
// as kubelet's pod source gives them; the manager's 60 s reconcile
// unprepares claims of pods no longer there.
//
// The control protocol stops where kubelet would call CRI: a prepare
// answers the CDI device names GetResources gives for each container.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/kubelet/cm/dra"
	draplugin "k8s.io/kubernetes/pkg/kubelet/cm/dra/plugin"
	"k8s.io/kubernetes/pkg/kubelet/pluginmanager"

	"ascend-device-plugin/tests/e2e/internal/draapi"
)

func main() {
	klog.InitFlags(nil)
	control := flag.String("control", "", "unix socket path for the HTTP/JSON control protocol (required)")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server (required)")
	node := flag.String("node", "", "the node's name (required)")
	stateDir := flag.String("state-dir", "", "the DRA manager's checkpoint directory (required)")
	registryDir := flag.String("registry-dir", "", "the plugin registry directory the plugin watcher watches (required)")
	flag.Parse()
	if err := run(*control, *kubeconfig, *node, *stateDir, *registryDir); err != nil {
		fmt.Fprintln(os.Stderr, "dramanager:", err)
		os.Exit(1)
	}
}

// allReady: the pod sources kubelet waits for are the API server only, which
// the active-pods function reads directly.
type allReady struct{}

func (allReady) AddSource(string) {}
func (allReady) AllReady() bool   { return true }

type harness struct {
	client  kubernetes.Interface
	node    string
	manager *dra.Manager
	mu      sync.Mutex
	// prepared: the pod objects prepared, by namespace/name, so an
	// unprepare works after the pod left the API server, as kubelet keeps
	// its pod until the containers are gone.
	prepared map[string]*v1.Pod
}

func run(control, kubeconfig, node, stateDir, registryDir string) error {
	if control == "" || kubeconfig == "" || node == "" || stateDir == "" || registryDir == "" {
		return errors.New("-control, -kubeconfig, -node, -state-dir and -registry-dir are required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	// kubelet's defaults (kubeAPIQPS 50, kubeAPIBurst 100), not
	// client-go's 5/10, which would queue every claim GET past the tenth.
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, dir := range []string{stateDir, registryDir} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
	}
	logger := klog.Background()
	ctx, stop := signal.NotifyContext(klog.NewContext(context.Background(), logger), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	manager, err := dra.NewManager(logger, client, stateDir)
	if err != nil {
		return err
	}
	h := &harness{client: client, node: node, manager: manager, prepared: map[string]*v1.Pod{}}
	getNode := func(ctx context.Context) (*v1.Node, error) {
		return client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	}
	// Start before the plugin watcher: like kubelet, it wipes the node's
	// ResourceSlices in the background before any driver registered.
	if err := manager.Start(ctx, h.activePods, getNode, allReady{}); err != nil {
		return err
	}
	defer manager.Stop()
	pm := pluginmanager.NewPluginManager(registryDir, record.NewFakeRecorder(100))
	pm.AddHandler("DRAPlugin", manager.GetWatcherHandler())
	stopCh := make(chan struct{})
	defer close(stopCh)
	go pm.Run(ctx, allReady{}, stopCh)

	_ = os.Remove(control)
	ln, err := net.Listen("unix", control)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", control, err)
	}
	srv := &http.Server{Handler: h.handler()}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	logger.Info("DRA manager harness ready", "control", control, "registry", registryDir, "node", node)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// activePods are the pods bound to the node in the API server, as kubelet's
// API pod source sees them (terminated ones left out).
func (h *harness) activePods() []*v1.Pod {
	list, err := h.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", h.node).String(),
	})
	if err != nil {
		// kubelet would keep its last view; an empty answer would unprepare
		// everything, so keep every prepared pod active instead.
		h.mu.Lock()
		defer h.mu.Unlock()
		out := make([]*v1.Pod, 0, len(h.prepared))
		for _, p := range h.prepared {
			out = append(out, p)
		}
		return out
	}
	out := make([]*v1.Pod, 0, len(list.Items))
	for i := range list.Items {
		p := &list.Items[i]
		if p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
			continue
		}
		out = append(out, p)
	}
	return out
}

func (h *harness) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /drivers/{driver}", func(w http.ResponseWriter, r *http.Request) {
		plugins, ok := h.manager.GetWatcherHandler().(*draplugin.DRAPluginManager)
		if !ok {
			fail(w, http.StatusInternalServerError, errors.New("the manager's watcher handler is not a DRA plugin manager"))
			return
		}
		d := draapi.Driver{Registered: true}
		if _, err := plugins.GetPlugin(r.PathValue("driver")); err != nil {
			d = draapi.Driver{Registered: false, Error: err.Error()}
		}
		reply(w, d)
	})
	mux.HandleFunc("POST /pods/{namespace}/{name}", func(w http.ResponseWriter, r *http.Request) {
		ns, name := r.PathValue("namespace"), r.PathValue("name")
		pod, err := h.client.CoreV1().Pods(ns).Get(r.Context(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			fail(w, http.StatusNotFound, err)
			return
		}
		if err != nil {
			fail(w, http.StatusServiceUnavailable, err)
			return
		}
		if err := h.manager.PrepareResources(r.Context(), pod); err != nil {
			// kubelet would not start the pod.
			fail(w, http.StatusConflict, err)
			return
		}
		h.mu.Lock()
		h.prepared[ns+"/"+name] = pod
		h.mu.Unlock()
		out := draapi.Prepared{Containers: map[string][]string{}}
		for _, containers := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for i := range containers {
				info, err := h.manager.GetResources(pod, &containers[i])
				if err != nil {
					fail(w, http.StatusConflict, err)
					return
				}
				names := []string{}
				for _, d := range info.CDIDevices {
					names = append(names, d.Name)
				}
				out.Containers[containers[i].Name] = names
			}
		}
		reply(w, out)
	})
	mux.HandleFunc("DELETE /pods/{namespace}/{name}", func(w http.ResponseWriter, r *http.Request) {
		ns, name := r.PathValue("namespace"), r.PathValue("name")
		h.mu.Lock()
		pod := h.prepared[ns+"/"+name]
		h.mu.Unlock()
		if pod == nil {
			got, err := h.client.CoreV1().Pods(ns).Get(r.Context(), name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				fail(w, http.StatusNotFound, err)
				return
			}
			if err != nil {
				fail(w, http.StatusServiceUnavailable, err)
				return
			}
			pod = got
		}
		if err := h.manager.UnprepareResources(r.Context(), pod); err != nil {
			fail(w, http.StatusConflict, err)
			return
		}
		h.mu.Lock()
		delete(h.prepared, ns+"/"+name)
		h.mu.Unlock()
		reply(w, map[string]string{"status": "unprepared"})
	})
	return mux
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(draapi.Error{Error: err.Error()})
}
