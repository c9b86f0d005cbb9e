package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// withStartLock runs fn holding a machine-wide exclusive lock, so that two
// stack commands started together do not both launch the same service.
func withStartLock(ctx context.Context, fn func() error) error {
	path := filepath.Join(os.TempDir(), "owlette-stack.start.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return err
	}
	defer f.Close()
	for said := false; syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil; {
		if !said {
			logf("another stack command is starting services; waiting for it")
			said = true
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fn()
}

// usersLockPath is machine-wide, like the ports: every `run` and `dev` holds
// a shared lock on it while it uses the stack.
var usersLockPath = filepath.Join(os.TempDir(), "owlette-stack.lock")

// joinUsers takes the shared lock (waiting while another process is
// stopping services, so that it never reuses one that is going away).
func joinUsers() (*os.File, error) {
	f, err := os.OpenFile(usersLockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", usersLockPath, err)
	}
	return f, nil
}

// leave stops what this process started, but only once no other `run` or
// `dev` on this machine still uses the stack (it may have reused our
// services); a signal while waiting stops them at once.
func (st *stack) leave(users *os.File, sigc <-chan os.Signal) {
	defer users.Close()
	if len(st.started) == 0 {
		return
	}
	fd := int(users.Fd())
	_ = syscall.Flock(fd, syscall.LOCK_UN) // an upgrade in place could deadlock with another owner
	if syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		logf("other stack users on this machine still use the services this one started; waiting for them to finish (Ctrl-C stops now)")
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
	wait:
		for syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			select {
			case <-sigc:
				break wait
			case <-tick.C:
			}
		}
	}
	st.stopAll()
}
