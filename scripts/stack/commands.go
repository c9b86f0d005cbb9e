package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// parseRunArgs splits `[--dev-env] [--] CMD ARGS...`.
func parseRunArgs(args []string) (dev bool, cmd []string, err error) {
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "--":
			args = args[1:]
			if len(args) == 0 {
				return false, nil, errors.New("run: no command after --")
			}
			return dev, args, nil
		case a == "--dev-env":
			dev = true
			args = args[1:]
		case strings.HasPrefix(a, "-"):
			return false, nil, fmt.Errorf("run: unknown flag %s", a)
		default:
			return dev, args, nil
		}
	}
	return false, nil, errors.New("run: no command given (usage: run [--dev-env] -- CMD ARGS...)")
}

// startStack ensures the services with signal handling in place: a signal
// while starting aborts and stops what was started. The returned channel
// carries later signals for the foreground command.
func startStack(st *stack) (<-chan os.Signal, error) {
	sigc := make(chan os.Signal, 4)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startDone := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case s := <-sigc:
			logf("got %v while starting; stopping", s)
			cancel()
		case <-startDone:
		}
	}()
	t0 := time.Now()
	err := withStartLock(ctx, func() error { return st.ensureAll(ctx, services()) })
	close(startDone)
	<-watchDone
	if err == nil {
		logf("stack ready in %s", since(t0))
	}
	return sigc, err
}

func cmdRun(root string, args []string) int {
	dev, command, err := parseRunArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 2
	}
	return withStack(root, func(sigc <-chan os.Signal) int {
		return runForeground(command, mergeEnv(os.Environ(), stackEnv(dev)), "", sigc)
	})
}

// withStack joins the stack's users, starts (or reuses) the services, runs
// fn and leaves, stopping what this run started once no one else uses it.
func withStack(root string, fn func(sigc <-chan os.Signal) int) int {
	users, err := joinUsers()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 1
	}
	st := &stack{root: root}
	sigc, err := startStack(st)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 1
	}
	code := fn(sigc)
	st.leave(users, sigc)
	return code
}

func cmdDev(root string) int {
	if !fileExists(filepath.Join(root, "scripts", "devserver")) {
		fmt.Fprintln(os.Stderr, "stack: scripts/devserver does not exist yet")
		return 1
	}
	if c, err := net.DialTimeout("tcp", addr(devPort), time.Second); err == nil {
		c.Close()
		fmt.Fprintf(os.Stderr, "stack: %s is already in use (another dev server?)\n", addr(devPort))
		return 1
	}
	return withStack(root, func(sigc <-chan os.Signal) int {
		fmt.Fprint(os.Stderr, banner())
		return runForeground([]string{"go", "run", "./scripts/devserver", "-addr", addr(devPort), "-seed", "-agents", "3", "-fakes"},
			mergeEnv(os.Environ(), stackEnv(true)), root, sigc)
	})
}

func banner() string {
	return fmt.Sprintf(`
owlette local stack (project %s)
  API (dev server)     http://%s
  Firestore emulator   http://%s
  Auth emulator        http://%s
  Storage (fake-gcs)   http://%s   bucket %s
  trigger relay        http://%s   (Firestore change events → the processes that registered their project)
  logs                 %s/logs/
Ctrl-C stops the dev server and every service this command started.

`, projectID, addr(devPort), addr(firestorePort), addr(authPort), addr(gcsPort), bucketName, addr(relayPort), stateDir)
}

func cmdUp(root string) int {
	st := &stack{root: root, detach: true}
	signal.Ignore(syscall.SIGHUP)
	_, err := startStack(st)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 1
	}
	if len(st.started) > 0 {
		f, err := os.OpenFile(pidsPath(root), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stack:", err)
			st.stopAll()
			return 1
		}
		for _, p := range st.started {
			fmt.Fprintf(f, "%s %d\n", p.svc.name, p.cmd.Process.Pid)
		}
		f.Close()
		for _, p := range st.started {
			p.logFile.Close() // the child keeps its own descriptor
		}
	}
	fmt.Fprintln(os.Stderr, "stack: up; stop with `go run ./scripts/stack down`. Env for a shell: eval \"$(go run ./scripts/stack env)\"")
	return 0
}

func cmdDown(root string) int {
	data, err := os.ReadFile(pidsPath(root))
	if errors.Is(err, os.ErrNotExist) {
		logf("nothing to stop (no %s/pids)", stateDir)
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 1
	}
	markers := map[string]string{}
	for _, s := range services() {
		markers[s.name] = s.marker
	}
	var wg sync.WaitGroup
	for _, e := range parsePids(string(data)) {
		marker, ok := markers[e.name]
		if !ok || !alive(e.pid, marker) {
			logf("%-9s pid %d already gone", e.name, e.pid)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			_ = syscall.Kill(-e.pid, syscall.SIGTERM) // `up` made it a session (and group) leader
			for deadline := time.Now().Add(15 * time.Second); alive(e.pid, marker) && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
			}
			_ = syscall.Kill(-e.pid, syscall.SIGKILL)
			logf("%-9s stopped pid %d (%s)", e.name, e.pid, since(t0))
		}()
	}
	wg.Wait()
	_ = os.Remove(pidsPath(root))
	return 0
}

func cmdStatus() int {
	ctx := context.Background()
	code := 0
	for _, s := range services() {
		state := s.probe(ctx)
		if state != stateReady {
			code = 1
		}
		fmt.Printf("%-9s %-21s %s\n", s.name, addr(s.port), state)
	}
	return code
}
