package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A second lockDataDir on the same dir fails, even in the same process (flock
// locks belong to open file descriptions), with an error naming the holder's
// pid; after unlock the dir can be locked again.
func TestLockDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, lockFileName))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(b)), strconv.Itoa(os.Getpid()); got != want {
		t.Errorf("lock file holds %q, want the pid %s", got, want)
	}

	unlock2, err := lockDataDir(dir)
	if err == nil {
		_ = unlock2()
		t.Fatal("second lock of a locked data dir succeeded")
	}
	if !errors.Is(err, errDataDirLocked) {
		t.Errorf("second lock: %v, want errDataDirLocked", err)
	}
	want := fmt.Sprintf("data dir %s is locked by another stoa process (pid %d)", dir, os.Getpid())
	if err.Error() != want {
		t.Errorf("second lock: %q, want %q", err, want)
	}

	if err := unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if err := unlock(); err != nil {
		t.Errorf("second unlock: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, lockFileName)); len(b) != 0 {
		t.Errorf("lock file after unlock holds %q, want nothing", b)
	}
	unlock, err = lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
}

// A data dir that cannot be created is an error of its own, not "locked".
func TestLockDataDirNotADir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockDataDir(filepath.Join(file, "data"))
	if err == nil {
		_ = unlock()
		t.Fatal("locked a data dir under a file")
	}
	if errors.Is(err, errDataDirLocked) {
		t.Errorf("%v: says locked", err)
	}
}

// lockHelperEnv makes the test binary a helper process that locks the data
// dir the variable names, says "locked" and holds the lock until its stdin
// closes or it is killed.
const lockHelperEnv = "STOA_TEST_LOCK_HELPER_DIR"

func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestLockDataDirOtherProcess")
	}
	if _, err := lockDataDir(dir); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// Another process holding the lock is named by its pid, and its lock goes
// with it when it dies, though its pid stays in the lock file.
func TestLockDataDirOtherProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper process: %q %v", line, err)
	}

	unlock, err := lockDataDir(dir)
	if err == nil {
		_ = unlock()
		t.Fatal("locked a data dir another process holds")
	}
	want := fmt.Sprintf("data dir %s is locked by another stoa process (pid %d)", dir, cmd.Process.Pid)
	if !errors.Is(err, errDataDirLocked) || err.Error() != want {
		t.Errorf("lock held by the helper: %q, want %q wrapping errDataDirLocked", err, want)
	}

	// Killed without a chance to unlock, like a crash.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waited = true
	unlock, err = lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after the holder died: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
}
