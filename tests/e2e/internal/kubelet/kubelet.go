// Package kubelet owns kubelet's real device manager
// (k8s.io/kubernetes/pkg/kubelet/cm/devicemanager) inside the harness: its
// lifecycle (start, restart like a kubelet restart), the set of active pods,
// and pod admission through the manager's Allocate path.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/kubelet/cm/containermap"
	"k8s.io/kubernetes/pkg/kubelet/cm/devicemanager"
	"k8s.io/kubernetes/pkg/kubelet/cm/topologymanager"
	"k8s.io/kubernetes/pkg/kubelet/lifecycle"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
)

// ErrRestarted is returned for an admission that a kubelet restart cut off.
var ErrRestarted = errors.New(dmapi.RestartedMessage)

// ErrNotRunning is returned while the manager is down (between stop and start).
var ErrNotRunning = errors.New(dmapi.NotRunningMessage)

// sourcesReady models a kubelet whose pod sources (API server, files) have
// all been seen, as the manager's own unit tests do.
type sourcesReady struct{}

func (sourcesReady) AddSource(string) {}
func (sourcesReady) AllReady() bool   { return true }

// Kubelet is the part of a kubelet that drives the device manager.
type Kubelet struct {
	logger klog.Logger

	// admit serialises admissions, as kubelet's sync loop admits one pod at a
	// time; the manager's Allocate is not safe for concurrent pods.
	admit sync.Mutex

	// podResourcesDir is where the pod-resources API is served ("" = not).
	podResourcesDir string

	mu           sync.Mutex
	manager      *devicemanager.ManagerImpl
	podResources *podResourcesServer
	pods         map[types.UID]*v1.Pod
	inflight     map[types.UID]*admission
}

type admission struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a kubelet whose manager is not started yet. With a
// podResourcesDir it also serves the pod-resources API there (kubelet.sock),
// started and stopped with the manager.
func New(logger klog.Logger, podResourcesDir string) *Kubelet {
	return &Kubelet{
		logger:          logger,
		podResourcesDir: podResourcesDir,
		pods:            make(map[types.UID]*v1.Pod),
		inflight:        make(map[types.UID]*admission),
	}
}

// Start creates and starts a manager on the default device-plugin path
// (/var/lib/kubelet/device-plugins), reading the checkpoint found there,
// then the pod-resources server (kubelet serves it once its container
// manager runs).
func (k *Kubelet) Start() error {
	// NewManagerImpl takes the machine's NUMA topology (cadvisor) and the
	// topology manager's affinity store; like the manager's unit tests we
	// give it no NUMA nodes and the fake topology manager (policy none).
	m, err := devicemanager.NewManagerImpl(k.logger, nil, topologymanager.NewFakeManager(k.logger))
	if err != nil {
		return fmt.Errorf("creating the device manager: %w", err)
	}
	// Start reads the checkpoint, wipes every socket in the directory and
	// serves kubelet.sock: the same call kubelet's container manager makes.
	containers, running := k.runningContainers()
	if err := m.Start(k.logger, k.activePods, sourcesReady{}, containers, running); err != nil {
		return fmt.Errorf("starting the device manager: %w", err)
	}
	k.mu.Lock()
	k.manager = m
	k.mu.Unlock()
	if k.podResourcesDir == "" {
		return nil
	}
	pr, err := k.startPodResources(k.podResourcesDir)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.podResources = pr
	k.mu.Unlock()
	return nil
}

// Stop stops the pod-resources server and the manager (kubelet.sock
// closes, plugin streams are cut).
func (k *Kubelet) Stop() error {
	k.mu.Lock()
	m, pr := k.manager, k.podResources
	k.manager, k.podResources = nil, nil
	k.mu.Unlock()
	pr.stop()
	if m == nil {
		return nil
	}
	return m.Stop(k.logger)
}

// Restart behaves like a kubelet restart: admissions in flight are cut off,
// the manager stops, and a new one starts on the same directory (its Start
// wipes the plugin sockets and keeps the checkpoint). The pod-resources
// server goes down and comes back with it. Pods admitted before stay
// active, as they keep running on the node.
func (k *Kubelet) Restart(down time.Duration) (dmapi.Restart, error) {
	var out dmapi.Restart
	k.mu.Lock()
	m, pr := k.manager, k.podResources
	k.manager, k.podResources = nil, nil
	cut := make([]*admission, 0, len(k.inflight))
	for _, a := range k.inflight {
		a.cancel()
		cut = append(cut, a)
	}
	k.mu.Unlock()
	out.Cancelled = len(cut)
	pr.stop()
	if m != nil {
		if err := m.Stop(k.logger); err != nil {
			return out, fmt.Errorf("stopping the device manager: %w", err)
		}
	}
	// A dead kubelet runs no code: let cut-off admissions return before the
	// new manager reads the checkpoint the old one may still be writing.
	for _, a := range cut {
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
			return out, errors.New("an admission cut off by the restart did not return within 30s")
		}
	}
	out.StoppedAtUnixNano = time.Now().UnixNano()
	time.Sleep(down)
	if err := k.Start(); err != nil {
		return out, err
	}
	out.ServingAtUnixNano = time.Now().UnixNano()
	return out, nil
}

func (k *Kubelet) current() (*devicemanager.ManagerImpl, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.manager == nil {
		return nil, ErrNotRunning
	}
	return k.manager, nil
}

// activePods is the manager's view of the pods on the node.
func (k *Kubelet) activePods() []*v1.Pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]*v1.Pod, 0, len(k.pods))
	for _, p := range k.pods {
		out = append(out, p)
	}
	return out
}

// runningContainers is what the runtime would report at kubelet start: every
// container of every admitted pod, running.
func (k *Kubelet) runningContainers() (containermap.ContainerMap, sets.Set[string]) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cm := containermap.NewContainerMap()
	running := sets.New[string]()
	for _, p := range k.pods {
		for _, c := range append(append([]v1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			id := string(p.UID) + "/" + c.Name
			cm.Add(string(p.UID), c.Name, id)
			running.Insert(id)
		}
	}
	return cm, running
}

// Resources reports what kubelet would publish in the node status.
func (k *Kubelet) Resources() (dmapi.Resources, error) {
	m, err := k.current()
	if err != nil {
		return dmapi.Resources{}, err
	}
	capacity, allocatable, inactive := m.GetCapacity(k.logger)
	healthy := m.GetAllocatableDevices(k.logger)
	out := dmapi.Resources{Resources: map[string]dmapi.Resource{}, Inactive: inactive}
	sort.Strings(out.Inactive)
	for name, q := range capacity {
		r := dmapi.Resource{Capacity: q.Value()}
		if a, ok := allocatable[name]; ok {
			r.Allocatable = a.Value()
		}
		for id, dev := range healthy[string(name)] {
			d := dmapi.Device{ID: id}
			if dev.Topology != nil {
				for _, n := range dev.Topology.Nodes {
					d.NUMA = append(d.NUMA, n.ID)
				}
			}
			r.Healthy = append(r.Healthy, d)
		}
		sort.Slice(r.Healthy, func(i, j int) bool { return r.Healthy[i].ID < r.Healthy[j].ID })
		out.Resources[string(name)] = r
	}
	return out, nil
}

// Admit admits a pod the way kubelet's resource allocator does with the
// topology manager's policy none: Allocate for every init container, then
// every app container, in order; any error rejects the pod. It then answers
// the run options kubelet would give the runtime for each container.
func (k *Kubelet) Admit(ctx context.Context, spec dmapi.Pod) (dmapi.Admission, error) {
	pod, err := podFromSpec(spec)
	if err != nil {
		return dmapi.Admission{}, err
	}
	k.admit.Lock()
	defer k.admit.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &admission{cancel: cancel, done: make(chan struct{})}
	defer close(a.done)

	// Take the manager and register as in flight atomically, so a restart
	// either happens before (we use the new manager) or cuts us off.
	k.mu.Lock()
	m := k.manager
	if m == nil {
		k.mu.Unlock()
		return dmapi.Admission{}, ErrNotRunning
	}
	_, readmission := k.pods[pod.UID]
	// kubelet adds the pod to its pod manager before admitting it, so the
	// manager counts it among the active pods during Allocate.
	k.pods[pod.UID] = pod
	k.inflight[pod.UID] = a
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.inflight, pod.UID)
		k.mu.Unlock()
	}()

	reject := func(err error) (dmapi.Admission, error) {
		if !readmission {
			k.mu.Lock()
			delete(k.pods, pod.UID)
			k.mu.Unlock()
		}
		if ctx.Err() != nil {
			return dmapi.Admission{}, fmt.Errorf("%w: %v", ErrRestarted, err)
		}
		return dmapi.Admission{}, err
	}
	for _, c := range append(append([]v1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if err := m.Allocate(ctx, pod, &c, lifecycle.AddOperation); err != nil {
			return reject(fmt.Errorf("allocate for container %q: %w", c.Name, err))
		}
	}
	out, err := k.runOptions(ctx, m, pod)
	if err != nil {
		return reject(err)
	}
	return out, nil
}

// Pod answers the devices and run options of an admitted pod; after a
// restart they come from the manager's checkpoint.
func (k *Kubelet) Pod(ctx context.Context, uid string) (dmapi.Admission, bool, error) {
	// GetDeviceRunContainerOptions may Allocate again (a pod with no cached
	// devices): serialise with admissions.
	k.admit.Lock()
	defer k.admit.Unlock()
	k.mu.Lock()
	pod, ok := k.pods[types.UID(uid)]
	k.mu.Unlock()
	if !ok {
		return dmapi.Admission{}, false, nil
	}
	m, err := k.current()
	if err != nil {
		return dmapi.Admission{}, true, err
	}
	out, err := k.runOptions(ctx, m, pod)
	return out, true, err
}

// Terminate forgets a pod; the manager frees its devices at the next
// UpdateAllocatedDevices, which we trigger at once.
func (k *Kubelet) Terminate(uid string) bool {
	k.mu.Lock()
	_, ok := k.pods[types.UID(uid)]
	delete(k.pods, types.UID(uid))
	m := k.manager
	k.mu.Unlock()
	if ok && m != nil {
		m.UpdateAllocatedDevices(k.logger)
	}
	return ok
}

func (k *Kubelet) runOptions(ctx context.Context, m *devicemanager.ManagerImpl, pod *v1.Pod) (dmapi.Admission, error) {
	out := dmapi.Admission{UID: string(pod.UID)}
	for _, c := range append(append([]v1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		opts, err := m.GetDeviceRunContainerOptions(ctx, pod, &c)
		if err != nil {
			return out, fmt.Errorf("run options for container %q: %w", c.Name, err)
		}
		res := dmapi.ContainerResult{Name: c.Name, Devices: map[string][]string{}, Options: convertOptions(opts)}
		for name, devs := range m.GetDevices(string(pod.UID), c.Name) {
			ids := make([]string, 0, len(devs))
			for id := range devs {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			res.Devices[name] = ids
		}
		out.Containers = append(out.Containers, res)
	}
	return out, nil
}

func convertOptions(opts *devicemanager.DeviceRunContainerOptions) dmapi.RunOptions {
	out := dmapi.RunOptions{
		Envs:        map[string]string{},
		Mounts:      []dmapi.Mount{},
		Devices:     []dmapi.DeviceSpec{},
		Annotations: map[string]string{},
		CDIDevices:  []string{},
	}
	if opts == nil {
		return out
	}
	for _, e := range opts.Envs {
		out.Envs[e.Name] = e.Value
	}
	for _, m := range opts.Mounts {
		out.Mounts = append(out.Mounts, dmapi.Mount{ContainerPath: m.ContainerPath, HostPath: m.HostPath, ReadOnly: m.ReadOnly})
	}
	for _, d := range opts.Devices {
		out.Devices = append(out.Devices, dmapi.DeviceSpec{ContainerPath: d.PathInContainer, HostPath: d.PathOnHost, Permissions: d.Permissions})
	}
	for _, a := range opts.Annotations {
		out.Annotations[a.Name] = a.Value
	}
	for _, c := range opts.CDIDevices {
		out.CDIDevices = append(out.CDIDevices, c.Name)
	}
	return out
}

func podFromSpec(spec dmapi.Pod) (*v1.Pod, error) {
	if spec.UID == "" || spec.Name == "" {
		return nil, errors.New("a pod needs a name and a uid")
	}
	ns := spec.Namespace
	if ns == "" {
		ns = "default"
	}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: ns, UID: types.UID(spec.UID), Annotations: spec.Annotations},
	}
	always := v1.ContainerRestartPolicyAlways
	for _, c := range spec.InitContainers {
		vc := container(c)
		if c.Restartable {
			vc.RestartPolicy = &always
		}
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, vc)
	}
	for _, c := range spec.Containers {
		pod.Spec.Containers = append(pod.Spec.Containers, container(c))
	}
	if len(pod.Spec.Containers) == 0 {
		return nil, errors.New("a pod needs at least one container")
	}
	return pod, nil
}

func container(c dmapi.Container) v1.Container {
	limits := v1.ResourceList{}
	for name, n := range c.Limits {
		limits[v1.ResourceName(name)] = *resource.NewQuantity(n, resource.DecimalSI)
	}
	return v1.Container{Name: c.Name, Resources: v1.ResourceRequirements{Limits: limits, Requests: limits}}
}
