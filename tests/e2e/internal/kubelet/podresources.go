package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
	podresourcesv1alpha1 "k8s.io/kubelet/pkg/apis/podresources/v1alpha1"
	apisgrpc "k8s.io/kubernetes/pkg/kubelet/apis/grpc"
	"k8s.io/kubernetes/pkg/kubelet/apis/podresources"
	"k8s.io/kubernetes/pkg/kubelet/cm/devicemanager"
)

// DefaultPodResourcesDir is where kubelet serves the pod-resources API
// (socket kubelet.sock in it).
const DefaultPodResourcesDir = "/var/lib/kubelet/pod-resources"

// podResourcesServer is kubelet's pod-resources gRPC server, built as
// kubelet's server.ListenAndServePodResources builds it (rate limiter, v1
// and v1alpha1 services), with the harness's manager and admitted pods as
// the providers.
type podResourcesServer struct {
	grpc *grpc.Server
	done chan struct{}
}

// startPodResources serves the pod-resources API on dir/kubelet.sock until
// stopPodResources. A leftover socket file is replaced, as kubelet's
// util.CreateListener does.
func (k *Kubelet) startPodResources(dir string) (*podResourcesServer, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, podresources.Socket+".sock")
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the old %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ctx := klog.NewContext(context.Background(), k.logger)
	providers := podresources.PodResourcesProviders{
		Pods:             podsProvider{k},
		Devices:          devicesProvider{k},
		Cpus:             noCPUs{},
		Memory:           noMemory{},
		DynamicResources: noDynamicResources{},
	}
	srv := grpc.NewServer(apisgrpc.WithRateLimiter(ctx, "podresources", podresources.DefaultQPS, podresources.DefaultBurstTokens))
	podresourcesv1alpha1.RegisterPodResourcesListerServer(srv, podresources.NewV1alpha1PodResourcesServer(providers))
	podresourcesv1.RegisterPodResourcesListerServer(srv, podresources.NewV1PodResourcesServer(ctx, providers))
	s := &podResourcesServer{grpc: srv, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := srv.Serve(ln); err != nil {
			k.logger.Error(err, "pod-resources server stopped")
		}
	}()
	k.logger.Info("serving the pod-resources API", "socket", path)
	return s, nil
}

// stop closes every connection and the listener (the socket file goes with
// it: a stopped kubelet answers nobody).
func (s *podResourcesServer) stop() {
	if s == nil {
		return
	}
	s.grpc.Stop()
	<-s.done
}

// devicesProvider is the container manager's DevicesProvider: the device
// manager's assignments, converted as kubelet's
// containerDevicesFromResourceDeviceInstances does (one entry per device
// and NUMA node). While the manager is down it knows no devices.
type devicesProvider struct{ k *Kubelet }

func (d devicesProvider) UpdateAllocatedDevices(logger klog.Logger) {
	if m, err := d.k.current(); err == nil {
		m.UpdateAllocatedDevices(logger)
	}
}

func (d devicesProvider) GetDevices(podUID, containerName string) []*podresourcesv1.ContainerDevices {
	m, err := d.k.current()
	if err != nil {
		return nil
	}
	return containerDevices(m.GetDevices(podUID, containerName))
}

func (d devicesProvider) GetAllocatableDevices(logger klog.Logger) []*podresourcesv1.ContainerDevices {
	m, err := d.k.current()
	if err != nil {
		return nil
	}
	return containerDevices(m.GetAllocatableDevices(logger))
}

func containerDevices(devs devicemanager.ResourceDeviceInstances) []*podresourcesv1.ContainerDevices {
	var out []*podresourcesv1.ContainerDevices
	for resource, instances := range devs {
		for id, dev := range instances {
			topo := dev.GetTopology()
			if topo == nil {
				out = append(out, &podresourcesv1.ContainerDevices{ResourceName: resource, DeviceIds: []string{id}})
				continue
			}
			for _, node := range topo.GetNodes() {
				out = append(out, &podresourcesv1.ContainerDevices{
					ResourceName: resource,
					DeviceIds:    []string{id},
					Topology:     &podresourcesv1.TopologyInfo{Nodes: []*podresourcesv1.NUMANode{{ID: node.GetID()}}},
				})
			}
		}
	}
	return out
}

// podsProvider answers the admitted pods: kubelet's active pods.
type podsProvider struct{ k *Kubelet }

func (p podsProvider) GetActivePods() []*v1.Pod { return p.k.activePods() }
func (p podsProvider) GetPods() []*v1.Pod       { return p.k.activePods() }

func (p podsProvider) GetPodByName(namespace, name string) (*v1.Pod, bool) {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	for _, pod := range p.k.pods {
		if pod.Namespace == namespace && pod.Name == name {
			return pod, true
		}
	}
	return nil, false
}

// The node has no CPU, memory or DRA managers: nothing exclusive to report.
type noCPUs struct{}

func (noCPUs) GetCPUs(*v1.Pod, *v1.Container) []int64 { return []int64{} }
func (noCPUs) GetPodCPUs(string) []int64              { return []int64{} }
func (noCPUs) GetAllocatableCPUs() []int64            { return []int64{} }

type noMemory struct{}

func (noMemory) GetMemory(klog.Logger, *v1.Pod, *v1.Container) []*podresourcesv1.ContainerMemory {
	return []*podresourcesv1.ContainerMemory{}
}
func (noMemory) GetPodMemory(klog.Logger, string) []*podresourcesv1.ContainerMemory {
	return []*podresourcesv1.ContainerMemory{}
}
func (noMemory) GetAllocatableMemory(klog.Logger) []*podresourcesv1.ContainerMemory {
	return []*podresourcesv1.ContainerMemory{}
}

type noDynamicResources struct{}

func (noDynamicResources) GetDynamicResources(klog.Logger, *v1.Pod, *v1.Container) []*podresourcesv1.DynamicResource {
	return []*podresourcesv1.DynamicResource{}
}
