// Package dmapi is the control protocol of cmd/devicemanager: HTTP/JSON over
// a unix socket. The harness serves it; the scenarios are its clients.
//
//	GET    /resources         capacity, allocatable and healthy device IDs per resource
//	POST   /pods              admit a pod (Allocate through the manager), answer its run options
//	GET    /pods/{uid}        devices and run options of an admitted pod (from memory or checkpoint)
//	DELETE /pods/{uid}        the pod terminated: forget it, free its devices
//	POST   /restart           kubelet restart: stop, wipe the socket directory, start a new manager
//	GET    /healthz           "ok" once the manager serves kubelet.sock
package dmapi

// Resources is the answer of GET /resources.
type Resources struct {
	// Resources by name (e.g. huawei.com/Ascend910).
	Resources map[string]Resource `json:"resources"`
	// Inactive lists resources GetCapacity reported as gone.
	Inactive []string `json:"inactive,omitempty"`
}

// Resource is what kubelet would publish for one extended resource.
type Resource struct {
	Capacity    int64 `json:"capacity"`
	Allocatable int64 `json:"allocatable"`
	// Healthy holds the allocatable device IDs (GetAllocatableDevices), sorted.
	Healthy []Device `json:"healthy"`
}

// Device is one allocatable device as the manager knows it.
type Device struct {
	ID   string  `json:"id"`
	NUMA []int64 `json:"numa,omitempty"`
}

// Pod is a synthetic pod: containers with extended-resource limits.
type Pod struct {
	Name           string      `json:"name"`
	Namespace      string      `json:"namespace,omitempty"`
	UID            string      `json:"uid"`
	InitContainers []Container `json:"init_containers,omitempty"`
	Containers     []Container `json:"containers"`
	// Annotations are copied onto the pod object (Volcano-style flows).
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Container is one container of a synthetic pod.
type Container struct {
	Name string `json:"name"`
	// Limits maps resource name to a count; requests equal limits.
	Limits map[string]int64 `json:"limits"`
	// Restartable marks a sidecar init container (restartPolicy Always).
	Restartable bool `json:"restartable,omitempty"`
}

// Admission is the answer of POST /pods and GET /pods/{uid}.
type Admission struct {
	UID        string            `json:"uid"`
	Containers []ContainerResult `json:"containers"`
}

// ContainerResult is what kubelet hands the runtime for one container.
type ContainerResult struct {
	Name string `json:"name"`
	// Devices maps resource name to the device IDs the manager assigned, sorted.
	Devices map[string][]string `json:"devices"`
	Options RunOptions          `json:"options"`
}

// RunOptions mirrors devicemanager.DeviceRunContainerOptions.
type RunOptions struct {
	Envs        map[string]string `json:"envs"`
	Mounts      []Mount           `json:"mounts"`
	Devices     []DeviceSpec      `json:"devices"`
	Annotations map[string]string `json:"annotations"`
	CDIDevices  []string          `json:"cdi_devices"`
}

// Mount is a host path mounted into the container.
type Mount struct {
	ContainerPath string `json:"container_path"`
	HostPath      string `json:"host_path"`
	ReadOnly      bool   `json:"read_only"`
}

// DeviceSpec is a device node handed to the container.
type DeviceSpec struct {
	ContainerPath string `json:"container_path"`
	HostPath      string `json:"host_path"`
	Permissions   string `json:"permissions"`
}

// Restart is the answer of POST /restart.
type Restart struct {
	// StoppedAtUnixNano: the old manager is stopped (its kubelet.sock gone).
	StoppedAtUnixNano int64 `json:"stopped_at_unix_nano"`
	// ServingAtUnixNano: the new manager listens on a fresh kubelet.sock.
	ServingAtUnixNano int64 `json:"serving_at_unix_nano"`
	// Cancelled counts admissions that were in flight and were cut off.
	Cancelled int `json:"cancelled"`
}

// RestartRequest is the body of POST /restart.
type RestartRequest struct {
	// DownMillis keeps kubelet down this long between stop and start.
	DownMillis int `json:"down_millis,omitempty"`
}

// Texts of the 503 answers to POST /pods: a restart cut the admission in
// flight, or the admission arrived while the manager was down (between stop
// and start: nothing was in flight to cut).
const (
	RestartedMessage  = "kubelet restarted while the pod was being admitted"
	NotRunningMessage = "device manager is not running"
)

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}
