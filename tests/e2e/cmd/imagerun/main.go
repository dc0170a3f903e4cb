// Command imagerun starts a program from an image's root filesystem the way
// a container runtime starts the DaemonSet's container: the root filesystem
// read-only, the given host paths bind-mounted (read-only where asked), a
// tmpfs, /proc and a minimal /dev, uid 0 with no capability at all (empty
// bounding, permitted, effective, inheritable and ambient sets) and
// no_new_privs. Test infrastructure for the image scenario
// (image_test.go); no image registry or container runtime involved.
//
//	imagerun -rootfs DIR [-bind SRC:DST[:ro]]... [-tmpfs DST:SIZE]... [-env K=V]... -- PROGRAM ARG...
//
// Run it in a mount namespace of its own (unshare --mount --propagation
// private): the mounts are made there and vanish with it. PROGRAM is a path
// inside the root filesystem; the environment is exactly the -env values.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	// Capabilities and no_new_privs are per thread: every call below and
	// the exec run on this one.
	runtime.LockOSThread()
	var binds, tmpfs, env list
	rootfs := flag.String("rootfs", "", "the image's root filesystem (a private copy: mount points are created in it)")
	flag.Var(&binds, "bind", "SRC:DST[:ro], repeatable")
	flag.Var(&tmpfs, "tmpfs", "DST:SIZE, repeatable")
	flag.Var(&env, "env", "K=V, repeatable")
	flag.Parse()
	if *rootfs == "" || flag.NArg() == 0 {
		fail("usage: imagerun -rootfs DIR [-bind SRC:DST[:ro]]... [-tmpfs DST:SIZE]... [-env K=V]... -- PROGRAM ARG...")
	}
	if err := run(*rootfs, binds, tmpfs, env, flag.Args()); err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "imagerun:", msg)
	os.Exit(1)
}

func run(rootfs string, binds, tmpfs, env, argv []string) error {
	root, err := filepath.Abs(rootfs)
	if err != nil {
		return err
	}
	// The root a mount of its own, so it can be made read-only.
	if err := syscall.Mount(root, root, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", root, err)
	}
	for _, spec := range binds {
		parts := strings.Split(spec, ":")
		if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "ro") {
			return fmt.Errorf("bad -bind %q", spec)
		}
		if err := bind(parts[0], filepath.Join(root, parts[1]), len(parts) == 3); err != nil {
			return err
		}
	}
	for _, spec := range tmpfs {
		dst, size, ok := strings.Cut(spec, ":")
		if !ok {
			return fmt.Errorf("bad -tmpfs %q", spec)
		}
		target := filepath.Join(root, dst)
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount("tmpfs", target, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777,size="+size); err != nil {
			return fmt.Errorf("tmpfs %s: %w", dst, err)
		}
	}
	if err := procAndDev(root); err != nil {
		return err
	}
	// readOnlyRootFilesystem: the root mount only; the volumes keep theirs.
	if err := syscall.Mount("", root, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("read-only root: %w", err)
	}
	if err := syscall.Chroot(root); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := dropCapabilities(); err != nil {
		return err
	}
	return syscall.Exec(argv[0], argv, env)
}

func bind(src, target string, readOnly bool) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(src, target, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, target, err)
	}
	if readOnly {
		if err := syscall.Mount("", target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", target, err)
		}
	}
	return nil
}

// procAndDev mounts /proc and a /dev holding what runtimes give every
// container (null, zero, full, random, urandom, tty).
func procAndDev(root string) error {
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		return err
	}
	if err := syscall.Mount("proc", proc, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("proc: %w", err)
	}
	dev := filepath.Join(root, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", dev, "tmpfs", syscall.MS_NOSUID, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		target := filepath.Join(dev, name)
		if err := os.WriteFile(target, nil, 0o666); err != nil {
			return err
		}
		if err := syscall.Mount("/dev/"+name, target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("dev/%s: %w", name, err)
		}
	}
	return nil
}

// dropCapabilities leaves uid 0 with nothing: after exec the permitted set
// of a root process is the bounding set (emptied here) plus what the
// inheritable and ambient sets carry (cleared).
func dropCapabilities() error {
	const (
		prSetNoNewPrivs  = 38
		prCapbsetDrop    = 24
		prCapAmbient     = 47
		prCapAmbientClrA = 4
		capV3            = 0x20080522
	)
	raw, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return err
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetDrop, uintptr(c), 0); errno != 0 {
			return fmt.Errorf("PR_CAPBSET_DROP %d: %w", c, errno)
		}
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prCapAmbient, prCapAmbientClrA, 0); errno != 0 {
		return fmt.Errorf("PR_CAP_AMBIENT_CLEAR_ALL: %w", errno)
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); errno != 0 {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", errno)
	}
	header := struct{ version, pid uint32 }{capV3, 0}
	var data [2]struct{ effective, permitted, inheritable uint32 }
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&header)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return fmt.Errorf("capset: %w", errno)
	}
	return nil
}
