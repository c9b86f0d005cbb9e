package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// exitCode maps a finished command to the code this program exits with.
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		if err != nil {
			return 127
		}
		return 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// runForeground runs args with env, forwarding SIGINT/SIGTERM/SIGHUP from
// sigc (a second signal kills it), and returns its exit code. With no terminal
// on stdin the command gets its own process group, which is signalled as a
// whole and cleaned up after it exits (go test's test binaries included).
// With a terminal it stays in ours so that Ctrl-C reaches it directly and it
// can read the terminal.
func runForeground(args, env []string, dir string, sigc <-chan os.Signal) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	interactive := isTerminal(os.Stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !interactive}
	setParentDeathSignal(cmd.SysProcAttr, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "stack: %v\n", err)
		return 127
	}
	pid := cmd.Process.Pid
	signalIt := func(sig syscall.Signal) {
		if interactive {
			_ = syscall.Kill(pid, sig)
		} else {
			_ = syscall.Kill(-pid, sig)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	signals := 0
	for {
		select {
		case err := <-done:
			if !interactive {
				_ = syscall.Kill(-pid, syscall.SIGKILL) // leftovers in its group
			}
			return exitCode(cmd.ProcessState, err)
		case s := <-sigc:
			sig, _ := s.(syscall.Signal)
			signals++
			switch {
			case signals > 1:
				logf("second signal: killing %s", args[0])
				signalIt(syscall.SIGKILL)
			case interactive && sig == syscall.SIGINT:
				// The terminal already delivered it to the command.
			case !interactive && sig == syscall.SIGINT:
				// Commands started from a non-interactive shell's background
				// job inherit SIGINT ignored; SIGTERM always gets through.
				signalIt(syscall.SIGTERM)
			default:
				signalIt(sig)
			}
		}
	}
}

// isTerminal reports whether f looks like a terminal: a character device
// other than /dev/null (which is what a background job's stdin usually is).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}
