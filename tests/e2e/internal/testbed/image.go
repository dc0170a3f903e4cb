package testbed

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ascend-device-plugin/tests/e2e/internal/manifest"
)

// Image is one platform's image from the OCI archive scripts/image-oci.sh
// builds, unpacked.
type Image struct {
	// Rootfs is the unpacked layer.
	Rootfs string
	// Entrypoint and Env are the image config's.
	Entrypoint, Env []string
}

// RequireImage returns the OCI archive (E2E_IMAGE_ARCHIVE) and the
// imagerun harness (E2E_IMAGERUN_BIN). It skips only where the plugin
// scenarios skip (E2E_NO_PLUGIN=1); otherwise a missing one fails.
func RequireImage(t testing.TB) (archive, imagerun string) {
	t.Helper()
	RequirePlugin(t)
	archive, imagerun = os.Getenv("E2E_IMAGE_ARCHIVE"), os.Getenv("E2E_IMAGERUN_BIN")
	for _, path := range []string{archive, imagerun} {
		if _, err := os.Stat(path); path == "" || err != nil {
			t.Fatalf("needs E2E_IMAGE_ARCHIVE (scripts/image-oci.sh) and E2E_IMAGERUN_BIN (cmd/imagerun): %q, %q", archive, imagerun)
		}
	}
	return archive, imagerun
}

// ExtractImage unpacks the linux/<arch> image of an OCI archive into dir,
// checking every blob's digest.
func ExtractImage(archive, arch, dir string) (Image, error) {
	blobs, err := readArchive(archive)
	if err != nil {
		return Image{}, err
	}
	type descriptor struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Platform  *struct {
			Architecture string `json:"architecture"`
			OS           string `json:"os"`
		} `json:"platform"`
	}
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil {
		return Image{}, fmt.Errorf("index.json: %w", err)
	}
	blob := func(digest string) ([]byte, error) {
		data, ok := blobs["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
		if !ok {
			return nil, fmt.Errorf("blob %s missing", digest)
		}
		sum := sha256.Sum256(data)
		if "sha256:"+hex.EncodeToString(sum[:]) != digest {
			return nil, fmt.Errorf("blob %s: content does not match its digest", digest)
		}
		return data, nil
	}
	// index.json names the multi-platform image: an index blob whose
	// entries are the platforms' manifests.
	var manifests []descriptor
	for _, m := range index.Manifests {
		if m.MediaType != "application/vnd.oci.image.index.v1+json" {
			manifests = append(manifests, m)
			continue
		}
		raw, err := blob(m.Digest)
		if err != nil {
			return Image{}, err
		}
		var inner struct {
			Manifests []descriptor `json:"manifests"`
		}
		if err := json.Unmarshal(raw, &inner); err != nil {
			return Image{}, fmt.Errorf("index %s: %w", m.Digest, err)
		}
		manifests = append(manifests, inner.Manifests...)
	}
	for _, m := range manifests {
		if m.Platform == nil || m.Platform.OS != "linux" || m.Platform.Architecture != arch {
			continue
		}
		raw, err := blob(m.Digest)
		if err != nil {
			return Image{}, err
		}
		var mf struct {
			Config descriptor   `json:"config"`
			Layers []descriptor `json:"layers"`
		}
		if err := json.Unmarshal(raw, &mf); err != nil {
			return Image{}, err
		}
		rawConfig, err := blob(mf.Config.Digest)
		if err != nil {
			return Image{}, err
		}
		var config struct {
			Config struct {
				Entrypoint, Env []string
			} `json:"config"`
		}
		if err := json.Unmarshal(rawConfig, &config); err != nil {
			return Image{}, err
		}
		for _, layer := range mf.Layers {
			data, err := blob(layer.Digest)
			if err != nil {
				return Image{}, err
			}
			if err := untar(data, dir); err != nil {
				return Image{}, fmt.Errorf("layer %s: %w", layer.Digest, err)
			}
		}
		return Image{Rootfs: dir, Entrypoint: config.Config.Entrypoint, Env: config.Config.Env}, nil
	}
	return Image{}, fmt.Errorf("%s: no linux/%s image in the index", archive, arch)
}

func readArchive(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]byte{}
	r := tar.NewReader(f)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(r)
			if err != nil {
				return nil, err
			}
			out[strings.TrimPrefix(h.Name, "./")] = data
		}
	}
}

func untar(gz []byte, dir string) error {
	z, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return err
	}
	r := tar.NewReader(z)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		mode := os.FileMode(h.Mode).Perm()
		if h.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(target, mode); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, r)
			f.Close()
			if err != nil {
				return err
			}
			if err := os.Chmod(target, mode); err != nil { // not narrowed by the umask
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
	}
}

// DaemonSetContainer is what the shipped DaemonSet says about the plugin's
// container and its volumes.
type DaemonSetContainer struct {
	Args []string
	// Env holds the entries with a literal value (valueFrom ones need a pod).
	Env []string
	// Mounts: container path -> the volume behind it.
	Mounts []Mount
	// Security is the container's securityContext; RunAsUser the pod's.
	Security  map[string]any
	RunAsUser int64
}

// Mount is one volumeMount and its volume.
type Mount struct {
	Path     string
	ReadOnly bool
	// HostPath is set for hostPath volumes; MemorySize for a memory
	// emptyDir ("8Mi"); Other names any other volume kind.
	HostPath, MemorySize, Other string
}

// ReadDaemonSet reads the one DaemonSet of a rendered manifest.
func ReadDaemonSet(path string) (DaemonSetContainer, error) {
	var out DaemonSetContainer
	objs, err := manifest.Read(path)
	if err != nil {
		return out, err
	}
	for _, obj := range objs {
		if obj.GetKind() != "DaemonSet" {
			continue
		}
		spec := obj.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
		container := spec["containers"].([]any)[0].(map[string]any)
		for _, a := range container["args"].([]any) {
			out.Args = append(out.Args, a.(string))
		}
		for _, e := range container["env"].([]any) {
			entry := e.(map[string]any)
			if v, ok := entry["value"].(string); ok {
				out.Env = append(out.Env, entry["name"].(string)+"="+v)
			}
		}
		volumes := map[string]map[string]any{}
		for _, v := range spec["volumes"].([]any) {
			volume := v.(map[string]any)
			volumes[volume["name"].(string)] = volume
		}
		for _, m := range container["volumeMounts"].([]any) {
			mount := m.(map[string]any)
			ro, _ := mount["readOnly"].(bool)
			entry := Mount{Path: mount["mountPath"].(string), ReadOnly: ro}
			volume := volumes[mount["name"].(string)]
			switch {
			case volume["hostPath"] != nil:
				entry.HostPath = volume["hostPath"].(map[string]any)["path"].(string)
			case volume["emptyDir"] != nil && volume["emptyDir"].(map[string]any)["medium"] == "Memory":
				entry.MemorySize, _ = volume["emptyDir"].(map[string]any)["sizeLimit"].(string)
			default:
				entry.Other = mount["name"].(string)
			}
			out.Mounts = append(out.Mounts, entry)
		}
		out.Security, _ = container["securityContext"].(map[string]any)
		if podSecurity, ok := spec["securityContext"].(map[string]any); ok {
			out.RunAsUser, _ = podSecurity["runAsUser"].(int64)
		}
		return out, nil
	}
	return out, fmt.Errorf("%s: no DaemonSet", path)
}

// StartImagePlugin runs the plugin from the image in the node's mount
// namespace as the DaemonSet in manifestPath runs it: its args and literal
// env, its hostPath volumes bound from the node (device-plugins and
// pod-resources are the node's own; the driver folder holds the simulator
// libdcmi.so and its state file; the log folder is the node's temp dir), a
// memory emptyDir as tmpfs, a read-only root, uid 0 without capabilities,
// and a network namespace of its own (no hostNetwork). Volumes the scenario
// cannot provide (the API token) are left out: no API server here.
func (n *Node) StartImagePlugin(t testing.TB, img Image, imagerun, manifestPath, topology string) *Plugin {
	t.Helper()
	b := RequirePlugin(t)
	ds, err := ReadDaemonSet(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	driver := filepath.Join(n.Dir, "driver")
	logDir := filepath.Join(n.Dir, "log")
	lib := filepath.Join(driver, "lib64", "driver", "libdcmi.so")
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(b.DCMILib)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(logDir, 0o750); err != nil {
		t.Fatal(err)
	}
	const driverPath = "/usr/local/Ascend/driver"
	hostPaths := map[string]string{
		"/var/lib/kubelet/device-plugins": "/var/lib/kubelet/device-plugins",
		"/var/lib/kubelet/pod-resources":  "/var/lib/kubelet/pod-resources",
		driverPath:                        driver,
		"/var/log/mindx-dl/devicePlugin":  logDir,
	}
	argv := []string{"nsenter", fmt.Sprintf("--target=%d", n.Kubelet.Pid()), "--mount", "--",
		"unshare", "--mount", "--net", "--propagation", "private", "--",
		imagerun, "-rootfs", img.Rootfs}
	for _, m := range ds.Mounts {
		switch {
		case m.HostPath != "":
			src, ok := hostPaths[m.HostPath]
			if !ok {
				t.Fatalf("the DaemonSet mounts host path %s, which this scenario does not provide", m.HostPath)
			}
			spec := src + ":" + m.Path
			if m.ReadOnly {
				spec += ":ro"
			}
			argv = append(argv, "-bind", spec)
		case m.MemorySize != "":
			// tmpfs sizes: 8Mi -> 8m.
			argv = append(argv, "-tmpfs", m.Path+":"+strings.ToLower(strings.TrimSuffix(m.MemorySize, "i")))
		default:
			t.Logf("volume %s (%s) left out: no API server in this scenario", m.Other, m.Path)
		}
	}
	p := &Plugin{
		State:   filepath.Join(driver, "sim-state.json"),
		LogFile: filepath.Join(logDir, "devicePlugin.log"),
		Options: PluginOptions{Topology: topology},
		sim:     b.Sim,
	}
	env := append(append([]string{}, img.Env...), ds.Env...)
	// The simulator stands in for the driver; its state file is in the
	// driver folder, read-only inside, written by ascend-sim from outside.
	env = append(env, "ASCEND_SIM_TOPOLOGY="+topology, "ASCEND_SIM_STATE="+driverPath+"/sim-state.json")
	for _, kv := range env {
		argv = append(argv, "-env", kv)
	}
	argv = append(argv, "--")
	argv = append(argv, img.Entrypoint...)
	argv = append(argv, ds.Args...)
	p.Proc = Start(t, "ascend-device-plugin (image)", filepath.Join(n.Dir, "plugin.out"), nil, argv...)
	n.plugins = append(n.plugins, p.Proc)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the plugin's -logFile (%s):\n%s", p.LogFile, Tail(p.LogFile, 40))
		}
	})
	return p
}
