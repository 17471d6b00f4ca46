package main

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// setMemoryLimit gives Go's collector a soft limit of half the memory limit
// of the server's cgroup (a container, a systemd slice), unless GOMEMLIMIT
// says otherwise, so that in a burst of image jobs the heap is collected
// before the kernel's OOM killer acts. The other half is for what Go does not
// count: ONNX Runtime's C memory (≈ 300 MB while OCR runs), the mapped
// binary and libraries.
func setMemoryLimit(log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := cgroupMemoryLimit("/proc/self/cgroup", "/sys/fs/cgroup")
	if limit <= 0 {
		return
	}
	soft := limit / 2
	debug.SetMemoryLimit(soft)
	log.Info("memory limit from the cgroup", "cgroup_bytes", limit, "go_soft_limit_bytes", soft)
}

// cgroupMemoryLimit reads the memory limit of this process's cgroup, v2
// (memory.max) or v1 (memory.limit_in_bytes), under root; 0 when there is
// none or it cannot be read.
func cgroupMemoryLimit(procCgroup, root string) int64 {
	for _, f := range cgroupLimitFiles(procCgroup, root) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) or a huge number (v1) mean no limit.
		if err == nil && n > 0 && n < 1<<50 {
			return n
		}
	}
	return 0
}

// cgroupLimitFiles lists where the memory limit of this process's cgroups
// may be read under root: memory.max (v2, or v2 mounted at unified/ beside
// v1) and memory.limit_in_bytes (v1), by the paths /proc/self/cgroup gives.
func cgroupLimitFiles(procCgroup, root string) []string {
	raw, err := os.ReadFile(procCgroup)
	if err != nil {
		return nil
	}
	var files []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			files = append(files, filepath.Join(root, parts[2], "memory.max"), filepath.Join(root, "unified", parts[2], "memory.max"))
		case strings.Contains(","+parts[1]+",", ",memory,"):
			files = append(files, filepath.Join(root, "memory", parts[2], "memory.limit_in_bytes"))
		}
	}
	return files
}
