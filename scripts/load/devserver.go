package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// localDefaults are the fixed, obviously local settings of `make dev`
// (scripts/stack --dev-env); set here when missing so that the tool also runs
// under `make test` (plain stack env) and from a shell.
var localDefaults = [][2]string{
	{"SESSION_SECRET", "local-dev-session-secret-not-for-production-0001"},
	{"MFA_ENCRYPTION_KEY", "local-dev-mfa-key-not-for-production-0001"},
	{"LLM_ENCRYPTION_KEY", "local-dev-llm-key-not-for-production-0001"},
	{"CRON_SECRET", "local-dev-cron-secret-not-for-production"},
	{"CORTEX_INTERNAL_SECRET", "local-dev-cortex-secret-not-for-production"},
	{"FIREBASE_API_KEY", "fake-api-key"},
	{"OWLETTE_ENV", "local"},
	{"RESEND_API_KEY", "re_local_dev_not_a_real_key"},
	{"RESEND_FROM_EMAIL", "owlette <alerts@owlette.local>"},
	{"ADMIN_EMAIL_DEV", "admin@owlette.local"},
}

// Server is the dev server child process: every function on one port, with
// its triggers and schedules (scripts/devserver), pointed at the emulators
// through the run's proxies. It can be killed and started again on the same
// address; its CPU time accumulates over restarts.
type Server struct {
	bin  string
	addr string
	env  []string
	log  io.Writer

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	cpuDone time.Duration // CPU of processes that ended
	starts  int
}

// buildServer compiles scripts/devserver into dir.
func buildServer(root, dir string) (string, error) {
	bin := filepath.Join(dir, "devserver")
	cmd := exec.Command("go", "build", "-o", bin, "./scripts/devserver")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build the dev server: %w", err)
	}
	return bin, nil
}

// serverEnv is this process's environment with the run's overrides.
func serverEnv(over map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := over[k]; !ok {
			env = append(env, kv)
		}
	}
	for k, v := range over {
		env = append(env, k+"="+v)
	}
	return env
}

// Start starts the process (again) and waits until ready answers true.
func (s *Server) Start(ctx context.Context, ready func(context.Context) bool) (time.Duration, error) {
	t0 := time.Now()
	cmd := exec.Command(s.bin, "-addr", s.addr, "-fakes")
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.starts++
	s.mu.Unlock()
	for {
		if ready(ctx) {
			return time.Since(t0), nil
		}
		select {
		case <-exited:
			return 0, errors.New("the dev server exited while starting (see server.log)")
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(t0) > 2*time.Minute {
			return 0, errors.New("the dev server did not become ready within 2 minutes (see server.log)")
		}
	}
}

// Pid is the running process's id (0 when none).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// CPU is the CPU time (user + system) of every process started so far.
func (s *Server) CPU() time.Duration {
	s.mu.Lock()
	done := s.cpuDone
	pid := 0
	if s.cmd != nil {
		pid = s.cmd.Process.Pid
	}
	s.mu.Unlock()
	if pid == 0 {
		return done
	}
	return done + procCPU(pid)
}

// stop ends the process with sig and waits for it (up to grace, then KILL).
func (s *Server) stop(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cpu := procCPU(cmd.Process.Pid) // read before it is reaped
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
	}
	if st, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && st != nil {
		cpu = time.Duration(st.Utime.Nano() + st.Stime.Nano())
	}
	s.mu.Lock()
	s.cpuDone += cpu
	s.cmd = nil
	s.mu.Unlock()
}

// Kill is the fault: SIGKILL, no clean shutdown.
func (s *Server) Kill() { s.stop(syscall.SIGKILL, 5*time.Second) }

// Stop shuts the server down cleanly (SIGTERM).
func (s *Server) Stop() { s.stop(syscall.SIGTERM, 15*time.Second) }

// readyWithKey returns a probe: GET /api/admin/sites with the API key
// answers 200.
func readyWithKey(base, key string) func(context.Context) bool {
	c := &http.Client{Timeout: 2 * time.Second}
	return func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/admin/sites", nil)
		req.Header.Set("x-api-key", key)
		req.Header.Set("X-Forwarded-For", "198.18.255.254")
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}
