package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

type stack struct {
	root    string
	detach  bool // `up`: started services outlive this process
	started []*proc
	mu      sync.Mutex
}

func (st *stack) logDir() string { return filepath.Join(st.root, stateDir, "logs") }

// ensureAll makes every service ready, starting those that do not answer, in
// parallel. On failure it stops what it started and returns the errors.
func (st *stack) ensureAll(ctx context.Context, svcs []*service) error {
	if err := os.MkdirAll(st.logDir(), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(svcs))
	var wg sync.WaitGroup
	for i, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = st.ensure(ctx, s); errs[i] != nil {
				cancel() // no point waiting for the others
			}
		}()
	}
	wg.Wait()
	if err := joinErrors(errs); err != nil {
		st.stopAll()
		return err
	}
	return nil
}

// errInterrupted marks a wait cut short by a signal or by a sibling's failure.
var errInterrupted = errors.New("interrupted")

// joinErrors joins errs, leaving out interruptions caused by a real failure
// among them.
func joinErrors(errs []error) error {
	var real, all []error
	for _, e := range errs {
		if e == nil {
			continue
		}
		all = append(all, e)
		if !errors.Is(e, errInterrupted) {
			real = append(real, e)
		}
	}
	if len(real) > 0 {
		return errors.Join(real...)
	}
	return errors.Join(all...)
}

func (st *stack) ensure(ctx context.Context, s *service) error {
	t0 := time.Now()
	switch s.probe(ctx) {
	case stateReady:
		logf("%-9s reusing the one on %s", s.name, addr(s.port))
		return st.afterReady(ctx, s)
	case stateOther:
		// Maybe another `stack` is starting it right now: give it time.
		logf("%-9s something answers on %s but is not ready; waiting for it", s.name, addr(s.port))
		if err := waitReady(ctx, s, nil, s.timeout); err != nil {
			return fmt.Errorf("%s: port %s is taken by something that is not a ready %s (%v)", s.name, addr(s.port), s.title, err)
		}
		logf("%-9s reusing the one on %s (became ready after %s)", s.name, addr(s.port), since(t0))
		return st.afterReady(ctx, s)
	}

	p, err := st.start(s)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	if err := waitReady(ctx, s, p, s.timeout); err != nil {
		if errors.Is(err, errInterrupted) {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		return fmt.Errorf("%s: %w%s", s.name, err, tailNote(p.logPath))
	}
	logf("%-9s started on %s, ready in %s (log %s)", s.name, addr(s.port), since(t0), st.rel(p.logPath))
	return st.afterReady(ctx, s)
}

func (st *stack) afterReady(ctx context.Context, s *service) error {
	if s.after == nil {
		return nil
	}
	if err := s.after(ctx); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

func (st *stack) start(s *service) (*proc, error) {
	logPath := filepath.Join(st.logDir(), s.name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{svc: s, logPath: logPath, logFile: lf, done: make(chan struct{})}

	if s.inProc != nil && !st.detach {
		stop, err := s.inProc(st, lf)
		if err != nil {
			lf.Close()
			return nil, err
		}
		p.inProc = stop
		st.track(p)
		return p, nil
	}

	cmd, err := s.command(st)
	if err != nil {
		lf.Close()
		return nil, err
	}
	fmt.Fprintf(lf, "# %s\n# started %s\n", strings.Join(cmd.Args, " "), time.Now().Format(time.RFC3339))
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if st.detach {
		cmd.SysProcAttr.Setsid = true // own session and group; survives this process and its terminal
	} else {
		cmd.SysProcAttr.Setpgid = true // own group: terminal Ctrl-C does not reach it, we stop it ourselves
		setParentDeathSignal(cmd.SysProcAttr, syscall.SIGTERM)
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p.cmd = cmd
	go func() { p.err = cmd.Wait(); close(p.done) }()
	st.track(p)
	return p, nil
}

func (st *stack) track(p *proc) {
	st.mu.Lock()
	st.started = append(st.started, p)
	st.mu.Unlock()
}

// stopAll stops, in parallel, every service this process started.
func (st *stack) stopAll() {
	st.mu.Lock()
	started := st.started
	st.started = nil
	st.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			p.stop(15 * time.Second)
			logf("%-9s stopped (%s)", p.svc.name, since(t0))
		}()
	}
	wg.Wait()
}

func (st *stack) rel(p string) string {
	if r, err := filepath.Rel(st.root, p); err == nil {
		return r
	}
	return p
}

// waitReady polls s until it is ready, p (if any) exits, ctx ends or the
// timeout passes.
func waitReady(ctx context.Context, s *service, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.probe(ctx) == stateReady {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v)", s.title, p.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready on %s after %s", s.title, addr(s.port), timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w while waiting for %s", errInterrupted, s.title)
		case <-tick.C:
		}
	}
}
