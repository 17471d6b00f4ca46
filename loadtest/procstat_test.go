package loadtest

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250, stime 50 ticks.
	stat := []byte("1234 (stoa (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 1000000 500 18446744073709551615")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3*time.Second {
		t.Errorf("cpu %v err %v, want 3s", cpu, err)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1 2")); err == nil {
		t.Error("a short stat line parsed")
	}
}

func TestParseStatusRSS(t *testing.T) {
	rss, err := parseStatusRSS([]byte("Name:\tstoa\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t12\n"))
	if err != nil || rss != 2048<<10 {
		t.Errorf("rss %d err %v, want 2 MiB", rss, err)
	}
	if _, err := parseStatusRSS([]byte("Name:\tzombie\n")); err == nil {
		t.Error("a status without VmRSS parsed")
	}
}

func TestSampleProcSelf(t *testing.T) {
	s, err := sampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 {
		t.Errorf("own RSS %d", s.RSS)
	}
	if _, err := sampleProc(1 << 30); err == nil {
		t.Error("a process that cannot exist was sampled")
	}
}
