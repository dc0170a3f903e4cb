// Package manifest reads Kubernetes objects from YAML or JSON manifests: a
// file (several documents, List kinds unrolled) or every *.yaml / *.yml
// file under a directory. The harness applies the RBAC objects it finds;
// the scenarios read the same objects to know what the plugin was granted.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Object is one manifest object and the file it came from.
type Object struct {
	*unstructured.Unstructured
	File string
}

// Read returns the objects of path: a manifest file, or every *.yaml /
// *.yml file under a directory (recursively, in lexical order).
func Read(path string) ([]Object, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if info.IsDir() {
		files = nil
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		sort.Strings(files)
	}
	var out []Object
	for _, file := range files {
		objs, err := readFile(file)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			out = append(out, Object{Unstructured: obj, File: file})
		}
	}
	return out, nil
}

func readFile(file string) ([]*unstructured.Unstructured, error) {
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
