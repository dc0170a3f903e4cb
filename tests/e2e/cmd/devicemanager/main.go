// Command devicemanager runs kubelet's own device manager
// (k8s.io/kubernetes/pkg/kubelet/cm/devicemanager) on
// /var/lib/kubelet/device-plugins and is driven over HTTP/JSON on a unix
// socket (see internal/dmapi for the protocol). Like kubelet it also serves
// the pod-resources API on /var/lib/kubelet/pod-resources/kubelet.sock.
//
// The manager only works on the default path, so run it in a private mount
// namespace with a temp dir mounted over /var/lib/kubelet (or /var/lib);
// it refuses to run in the host's mount namespace unless told otherwise.
//
//	unshare --mount --propagation private sh -c \
//	  'mount --bind "$TMP/varlib" /var/lib && exec devicemanager -control "$TMP/dm.sock"'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"k8s.io/klog/v2"

	"ascend-device-plugin/tests/e2e/internal/kubelet"
)

func main() {
	klog.InitFlags(nil)
	control := flag.String("control", "", "unix socket path for the HTTP/JSON control protocol (required)")
	hostNS := flag.Bool("allow-host-mount-namespace", false, "run even in the host's mount namespace (touches the real /var/lib/kubelet)")
	podResources := flag.String("pod-resources-dir", kubelet.DefaultPodResourcesDir, "serve the pod-resources API on kubelet.sock in this directory (empty: do not serve it)")
	flag.Parse()
	if err := run(*control, *podResources, *hostNS); err != nil {
		fmt.Fprintln(os.Stderr, "devicemanager:", err)
		os.Exit(1)
	}
}

func run(control, podResources string, hostNS bool) error {
	if control == "" {
		return errors.New("-control is required")
	}
	if !hostNS {
		if err := requirePrivateMountNamespace(); err != nil {
			return err
		}
	}
	logger := klog.Background()
	k := kubelet.New(logger, podResources)
	if err := k.Start(); err != nil {
		return err
	}
	defer func() { _ = k.Stop() }()

	_ = os.Remove(control)
	ln, err := net.Listen("unix", control)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", control, err)
	}
	srv := &http.Server{Handler: k.Handler()}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	logger.Info("device manager harness ready", "control", control)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// requirePrivateMountNamespace refuses to run unless /var/lib/kubelet (or
// /var/lib) is a mount point in a mount namespace other than our parent's,
// so the harness never touches the host's /var/lib/kubelet.
func requirePrivateMountNamespace() error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("reading our mount namespace: %w", err)
	}
	if parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid())); err == nil && parent == self {
		return errors.New("refusing to run in our parent's mount namespace: start me under `unshare --mount --propagation private` with a temp dir bound over /var/lib/kubelet (or pass -allow-host-mount-namespace)")
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("reading our mounts: %w", err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		// Field 5 is the mount point.
		fields := strings.Fields(line)
		if len(fields) > 4 && (fields[4] == "/var/lib/kubelet" || fields[4] == "/var/lib") {
			return nil
		}
	}
	return errors.New("refusing to run: neither /var/lib/kubelet nor /var/lib is a mount point here; bind a temp dir over it first (or pass -allow-host-mount-namespace)")
}
