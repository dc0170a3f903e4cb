package apiserver

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"ascend-device-plugin/tests/e2e/internal/manifest"
)

// rbacKinds are the objects applied from the RBAC manifests; every other
// kind (DaemonSet, kustomization, ...) is skipped.
var rbacKinds = map[string]struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}{
	"ClusterRole":        {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, false},
	"ClusterRoleBinding": {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}, false},
	"Role":               {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, true},
	"RoleBinding":        {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, true},
	"ServiceAccount":     {schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, true},
}

// policyKinds are the admission policies applied by ApplyPolicies.
var policyKinds = map[string]struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}{
	"ValidatingAdmissionPolicy":        {schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}, false},
	"ValidatingAdmissionPolicyBinding": {schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}, false},
}

// Applied names one object applied from the RBAC manifests.
type Applied struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	File      string `json:"file"`
}

// ApplyRBAC server-side-applies (as admin) every RBAC object and
// ServiceAccount found in path: a manifest file, or every *.yaml / *.yml
// file under a directory (recursively). Objects are expected complete (e.g.
// rendered kustomize output): patches are not understood. Namespaced objects
// without a namespace go to "default", as with kubectl.
func ApplyRBAC(ctx context.Context, admin *rest.Config, path string) ([]Applied, error) {
	return apply(ctx, admin, path, rbacKinds)
}

// ApplyPolicies server-side-applies (as admin) every
// ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding found in
// path, as ApplyRBAC does for RBAC.
func ApplyPolicies(ctx context.Context, admin *rest.Config, path string) ([]Applied, error) {
	return apply(ctx, admin, path, policyKinds)
}

func apply(ctx context.Context, admin *rest.Config, path string, kinds map[string]struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}) ([]Applied, error) {
	client, err := dynamic.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	objs, err := manifest.Read(path)
	if err != nil {
		return nil, err
	}
	var applied []Applied
	for _, obj := range objs {
		kind, ok := kinds[obj.GetKind()]
		if !ok {
			continue
		}
		var ri dynamic.ResourceInterface = client.Resource(kind.gvr)
		if kind.namespaced {
			if obj.GetNamespace() == "" {
				obj.SetNamespace("default")
			}
			ri = client.Resource(kind.gvr).Namespace(obj.GetNamespace())
		}
		data, err := json.Marshal(obj.Object)
		if err != nil {
			return applied, err
		}
		force := true
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "e2e-harness", Force: &force}); err != nil {
			return applied, fmt.Errorf("applying %s %s/%s from %s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), obj.File, err)
		}
		applied = append(applied, Applied{Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(), File: obj.File})
	}
	return applied, nil
}
