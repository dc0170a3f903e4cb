// Package fakeplugin is a tiny device plugin (one resource) used to prove
// the harness before the real plugin runs: it serves the v1beta1 API on
// <dir>/<name>.sock, registers with kubelet.sock, pushes health changes on
// ListAndWatch and re-registers when kubelet restarts (kubelet.sock replaced
// or our socket wiped).
package fakeplugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// Config describes the fake plugin.
type Config struct {
	// Dir is the device-plugin directory (holding kubelet.sock).
	Dir string
	// Resource is the full resource name, e.g. example.com/fake.
	Resource string
	// Devices are the device IDs, all healthy at start.
	Devices []string
	// Preferred, if set, is advertised and answers GetPreferredAllocation.
	Preferred func(available, mustInclude []string, size int) []string
	// AllocateDelay holds every Allocate this long (to catch it in flight).
	AllocateDelay time.Duration
}

// Plugin is a running fake device plugin.
type Plugin struct {
	cfg    Config
	socket string

	mu          sync.Mutex
	health      map[string]string
	watchers    map[chan struct{}]struct{}
	server      *grpc.Server
	kubeletIno  uint64
	socketIno   uint64
	registered  int
	allocations [][]string

	cancel context.CancelFunc
	done   chan struct{}

	pluginapi.UnimplementedDevicePluginServer
}

// Start serves the socket, registers, and keeps registered until Stop.
func Start(cfg Config) (*Plugin, error) {
	name := cfg.Resource[strings.LastIndex(cfg.Resource, "/")+1:]
	p := &Plugin{
		cfg:      cfg,
		socket:   filepath.Join(cfg.Dir, name+".sock"),
		health:   map[string]string{},
		watchers: map[chan struct{}]struct{}{},
		done:     make(chan struct{}),
	}
	for _, id := range cfg.Devices {
		p.health[id] = pluginapi.Healthy
	}
	if err := p.serveAndRegister(); err != nil {
		p.stopServer()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.watchKubelet(ctx)
	return p, nil
}

// Stop stops serving and removes the socket.
func (p *Plugin) Stop() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	p.stopServer()
}

// SetHealth marks a device Healthy or Unhealthy and pushes the new list.
func (p *Plugin) SetHealth(id, health string) {
	p.mu.Lock()
	p.health[id] = health
	for w := range p.watchers {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

// Registrations counts successful Register calls.
func (p *Plugin) Registrations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.registered
}

// Allocations returns the device IDs of every Allocate container request.
func (p *Plugin) Allocations() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]string(nil), p.allocations...)
}

func inode(path string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}

func (p *Plugin) serveAndRegister() error {
	p.stopServer()
	_ = os.Remove(p.socket)
	ln, err := net.Listen("unix", p.socket)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", p.socket, err)
	}
	srv := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(srv, p)
	go func() { _ = srv.Serve(ln) }()
	p.mu.Lock()
	p.server = srv
	p.socketIno = inode(p.socket)
	p.mu.Unlock()

	kubelet := filepath.Join(p.cfg.Dir, "kubelet.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+kubelet, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version:      pluginapi.Version,
		Endpoint:     filepath.Base(p.socket),
		ResourceName: p.cfg.Resource,
		Options:      &pluginapi.DevicePluginOptions{GetPreferredAllocationAvailable: p.cfg.Preferred != nil},
	})
	if err != nil {
		return fmt.Errorf("registering %s: %w", p.cfg.Resource, err)
	}
	p.mu.Lock()
	p.registered++
	p.kubeletIno = inode(kubelet)
	p.mu.Unlock()
	return nil
}

func (p *Plugin) stopServer() {
	p.mu.Lock()
	srv := p.server
	p.server = nil
	p.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
	_ = os.Remove(p.socket)
}

// watchKubelet re-registers when kubelet.sock is replaced or our socket is
// wiped (polling: a fake needs no inotify).
func (p *Plugin) watchKubelet(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.mu.Lock()
		kubeletIno, socketIno := p.kubeletIno, p.socketIno
		p.mu.Unlock()
		now := inode(filepath.Join(p.cfg.Dir, "kubelet.sock"))
		if now == 0 || (now == kubeletIno && inode(p.socket) == socketIno) {
			continue
		}
		_ = p.serveAndRegister() // retried on the next tick when it fails
	}
}

func (p *Plugin) devices() []*pluginapi.Device {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*pluginapi.Device, 0, len(p.health))
	for id, h := range p.health {
		out = append(out, &pluginapi.Device{ID: id, Health: h})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// GetDevicePluginOptions advertises preferred allocation when configured.
func (p *Plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{GetPreferredAllocationAvailable: p.cfg.Preferred != nil}, nil
}

// ListAndWatch sends the full list, then again on every health change.
func (p *Plugin) ListAndWatch(_ *pluginapi.Empty, stream grpc.ServerStreamingServer[pluginapi.ListAndWatchResponse]) error {
	changed := make(chan struct{}, 1)
	p.mu.Lock()
	p.watchers[changed] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.watchers, changed)
		p.mu.Unlock()
	}()
	for {
		if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: p.devices()}); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-changed:
		}
	}
}

// GetPreferredAllocation answers with the configured chooser.
func (p *Plugin) GetPreferredAllocation(_ context.Context, req *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	if p.cfg.Preferred == nil {
		return nil, errors.New("preferred allocation not advertised")
	}
	out := &pluginapi.PreferredAllocationResponse{}
	for _, r := range req.ContainerRequests {
		ids := p.cfg.Preferred(r.AvailableDeviceIDs, r.MustIncludeDeviceIDs, int(r.AllocationSize))
		out.ContainerResponses = append(out.ContainerResponses, &pluginapi.ContainerPreferredAllocationResponse{DeviceIDs: ids})
	}
	return out, nil
}

// Allocate answers one env and one device node per device.
func (p *Plugin) Allocate(ctx context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	if p.cfg.AllocateDelay > 0 {
		select {
		case <-time.After(p.cfg.AllocateDelay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := &pluginapi.AllocateResponse{}
	for _, r := range req.ContainerRequests {
		ids := append([]string(nil), r.DevicesIds...)
		sort.Strings(ids)
		p.mu.Lock()
		for _, id := range ids {
			if _, ok := p.health[id]; !ok {
				p.mu.Unlock()
				return nil, fmt.Errorf("unknown device %q", id)
			}
		}
		p.allocations = append(p.allocations, ids)
		p.mu.Unlock()
		resp := &pluginapi.ContainerAllocateResponse{
			Envs:        map[string]string{"FAKE_VISIBLE_DEVICES": strings.Join(ids, ",")},
			Annotations: map[string]string{"fake.example.com/devices": strings.Join(ids, ",")},
			Mounts:      []*pluginapi.Mount{{ContainerPath: "/etc/fake", HostPath: "/etc/fake", ReadOnly: true}},
		}
		for _, id := range ids {
			resp.Devices = append(resp.Devices, &pluginapi.DeviceSpec{ContainerPath: "/dev/" + id, HostPath: "/dev/null", Permissions: "rw"})
			resp.CdiDevices = append(resp.CdiDevices, &pluginapi.CDIDevice{Name: "fake.example.com/device=" + id})
		}
		out.ContainerResponses = append(out.ContainerResponses, resp)
	}
	return out, nil
}

// PreStartContainer is not advertised.
func (p *Plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}
