package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// lockFileName is the lock file lockDataDir keeps in a data dir.
const lockFileName = "stoa.lock"

// errDataDirLocked is wrapped by lockDataDir's error when another process
// (or another lockDataDir call in this one) holds the data dir's lock.
var errDataDirLocked = errors.New("locked by another stoa process")

// lockDataDir makes sure only one stoa process uses dir: it creates dir if
// needed (mode 0700: it holds the face gallery), opens dir/stoa.lock and takes
// a non-blocking exclusive flock on it, then writes its pid into the file.
//
// If the lock is held, the error wraps errDataDirLocked and names the holder:
// "data dir DIR is locked by another stoa process (pid N)". flock locks belong
// to an open file description, so a second call in the same process conflicts
// too. The kernel releases the lock when the process exits, however it exits,
// so a lock file left behind by a crash does not block the next start.
//
// unlock clears the pid, releases the lock and closes the file; the file
// itself stays (removing it would let two processes lock two different files
// of the same name). Calling unlock again does nothing and returns the
// first call's result.
func lockDataDir(dir string) (unlock func() error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open data dir lock: %w", err)
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is %w (%s)", dir, errDataDirLocked, lockHolder(f))
		}
		return nil, fmt.Errorf("lock data dir %s: %w", path, err)
	}
	if err := writePid(f); err != nil {
		_ = flock(f, syscall.LOCK_UN)
		f.Close()
		return nil, fmt.Errorf("write pid to %s: %w", path, err)
	}
	return sync.OnceValue(func() error {
		// Clear the pid while still holding the lock, so that it never names
		// a process that no longer holds it.
		if err := errors.Join(f.Truncate(0), flock(f, syscall.LOCK_UN), f.Close()); err != nil {
			return fmt.Errorf("unlock data dir %s: %w", dir, err)
		}
		return nil
	}), nil
}

// flock applies how to f's lock, retrying when a signal interrupts it.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// writePid replaces f's contents with this process's pid.
func writePid(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// lockHolder describes the process that holds f's lock from the pid it wrote:
// "pid N", or "pid unknown" if the holder has not written it yet.
func lockHolder(f *os.File) string {
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return "pid unknown"
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return "pid unknown"
	}
	return "pid " + strconv.Itoa(pid)
}
