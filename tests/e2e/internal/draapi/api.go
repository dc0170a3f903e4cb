// Package draapi is the control protocol of cmd/dramanager (kubelet's DRA
// manager and plugin manager): HTTP/JSON on a unix socket.
//
//	GET    /healthz                      200 once the manager and the plugin watcher run
//	GET    /drivers/{driver}             200 {"registered":bool}: the DRA plugin manager knows a connected plugin
//	POST   /pods/{namespace}/{name}      prepare: the pod is read from the API server (as kubelet's pod
//	                                     source gives it), PrepareResources, then GetResources per container
//	DELETE /pods/{namespace}/{name}      unprepare (UnprepareResources) the pod's claims
//
// Errors answer a non-2xx status with {"error": "..."}: 409 when the
// manager refused (kubelet would not start the pod), 404 for an unknown pod.
package draapi

// Prepared is what kubelet would hand the container runtime for a pod:
// per container, the CDI device names (CRI field 17), in the manager's order.
type Prepared struct {
	Containers map[string][]string `json:"containers"`
}

// Driver is a driver's registration state.
type Driver struct {
	Registered bool `json:"registered"`
	// Error is GetPlugin's answer when not registered.
	Error string `json:"error,omitempty"`
}

// Error is the body of a non-2xx answer.
type Error struct {
	Error string `json:"error"`
}
