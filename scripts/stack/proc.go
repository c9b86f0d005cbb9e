package main

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"syscall"
	"time"
)

// proc is a service this program started.
type proc struct {
	svc     *service
	cmd     *exec.Cmd // nil when in-process
	inProc  stopper
	logPath string
	logFile *os.File
	done    chan struct{} // closed when cmd has exited
	err     error         // cmd's exit error, valid after done
}

func (p *proc) exited() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the service: SIGTERM to its process group, SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p.inProc != nil {
		p.inProc.Stop()
	}
	if p.cmd != nil && p.cmd.Process != nil {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			fmt.Fprintf(os.Stderr, "stack: %s did not stop within %s, killing it\n", p.svc.name, grace)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		// Anything the leader left behind in its group goes too.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	if p.logFile != nil {
		p.logFile.Close()
	}
}

// setParentDeathSignal asks Linux to send sig to the child when this process
// dies (even by SIGKILL), so a killed `stack run` leaves no emulator behind.
// Set by name because the field exists on Linux only.
func setParentDeathSignal(attr *syscall.SysProcAttr, sig syscall.Signal) {
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(sig))
	}
}
