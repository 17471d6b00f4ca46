package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupMemoryLimit(t *testing.T) {
	tests := []struct {
		name  string
		proc  string
		files map[string]string
		want  int64
	}{
		{"v2", "0::/system.slice/stoa.service\n", map[string]string{"system.slice/stoa.service/memory.max": "1073741824\n"}, 1 << 30},
		{"v2 unlimited", "0::/\n", map[string]string{"memory.max": "max\n"}, 0},
		{"v1", "4:memory:/stoa\n1:cpu:/\n", map[string]string{"memory/stoa/memory.limit_in_bytes": "536870912\n"}, 512 << 20},
		{"v1 unlimited", "4:memory:/\n", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"hybrid: v1 memory wins over an empty v2", "4:cpuacct,memory:/x\n0::/\n", map[string]string{"memory/x/memory.limit_in_bytes": "1000000\n"}, 1000000},
		{"no files", "0::/gone\n", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, body := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			proc := filepath.Join(t.TempDir(), "cgroup")
			if err := os.WriteFile(proc, []byte(tc.proc), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := cgroupMemoryLimit(proc, root); got != tc.want {
				t.Errorf("limit = %d, want %d", got, tc.want)
			}
		})
	}
}
