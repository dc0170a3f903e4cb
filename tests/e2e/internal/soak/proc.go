package soak

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcSample is what /proc says about one process at one time.
type ProcSample struct {
	At time.Time
	// RSSKiB is VmRSS; Threads the thread count; FDs the open descriptors.
	RSSKiB, Threads, FDs int64
	// CPU is user + system time so far.
	CPU time.Duration
}

// clockTick is USER_HZ, 100 on every Linux the harness runs on.
const clockTick = 10 * time.Millisecond

// SampleProc reads /proc/<pid>/status, stat and fd.
func SampleProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	if s.RSSKiB, s.Threads, err = parseStatus(status); err != nil {
		return s, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.CPU, err = parseStatCPU(stat); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = int64(len(fds))
	return s, nil
}

// parseStatus takes VmRSS (kB) and Threads from /proc/<pid>/status.
func parseStatus(data []byte) (rssKiB, threads int64, err error) {
	var haveRSS, haveThreads bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		switch key {
		case "VmRSS":
			rssKiB, err = strconv.ParseInt(fields[0], 10, 64)
			haveRSS = err == nil
		case "Threads":
			threads, err = strconv.ParseInt(fields[0], 10, 64)
			haveThreads = err == nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
	}
	if !haveRSS || !haveThreads {
		return 0, 0, fmt.Errorf("no VmRSS or Threads line")
	}
	return rssKiB, threads, nil
}

// parseStatCPU is utime + stime (fields 14 and 15) of /proc/<pid>/stat.
func parseStatCPU(data []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' in %q", data)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is the state (field 3): utime is field 14, stime 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("%d fields after the name, want 13 or more", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
