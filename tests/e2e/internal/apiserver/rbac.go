package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// rbacKinds are the objects applied from the RBAC directory; every other
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

// Applied names one object applied from the RBAC directory.
type Applied struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	File      string `json:"file"`
}

// ApplyRBAC server-side-applies (as admin) every RBAC object and
// ServiceAccount found in *.yaml / *.yml files under dir, recursively.
// Objects are expected complete (e.g. rendered kustomize output): patches
// are not understood. Namespaced objects without a namespace go to "default",
// as with kubectl.
func ApplyRBAC(ctx context.Context, admin *rest.Config, dir string) ([]Applied, error) {
	client, err := dynamic.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	sort.Strings(files)
	var applied []Applied
	for _, file := range files {
		objs, err := readObjects(file)
		if err != nil {
			return applied, err
		}
		for _, obj := range objs {
			kind, ok := rbacKinds[obj.GetKind()]
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
				return applied, fmt.Errorf("applying %s %s/%s from %s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), file, err)
			}
			applied = append(applied, Applied{Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(), File: file})
		}
	}
	return applied, nil
}

func readObjects(file string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("parsing %s: %w", file, err)
		}
		if len(raw) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: raw}
		if obj.GetKind() == "List" {
			items, _ := raw["items"].([]any)
			for _, item := range items {
				if m, ok := item.(map[string]any); ok {
					out = append(out, &unstructured.Unstructured{Object: m})
				}
			}
			continue
		}
		out = append(out, obj)
	}
}
