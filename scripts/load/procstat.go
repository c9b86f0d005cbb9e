package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clkTck is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clkTck = 100

// procCPU is a process's user + system CPU time from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may contain spaces: fields count from the
	// last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14 utime
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15 stime
	return time.Duration(ut+st) * time.Second / clkTck
}

// procRSS is a process's resident set size in MiB (VmRSS).
func procRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// machineCPU returns the busy and total jiffies of all CPUs (/proc/stat).
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// findProcess returns the pid of the first process whose command line
// contains every one of parts (0 when none).
func findProcess(parts ...string) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		ok := true
		for _, p := range parts {
			if !bytes.Contains(b, []byte(p)) {
				ok = false
				break
			}
		}
		if ok {
			pid, _ := strconv.Atoi(filepath.Base(d))
			if pid != os.Getpid() {
				return pid
			}
		}
	}
	return 0
}

// Sample is one reading of the resources (CPU as a share of one core over
// the interval since the previous sample).
type Sample struct {
	At          time.Duration `json:"atNs"` // since the start of the run
	ServerCPU   float64       `json:"serverCpuPct"`
	ServerRSS   float64       `json:"serverRssMiB"`
	LoadCPU     float64       `json:"loadCpuPct"`      // this process: agents, operators, proxies
	FirestoreEm float64       `json:"firestoreEmuPct"` // the shared Firestore emulator (everyone's load)
	AuthEm      float64       `json:"authEmuPct"`
	MachineBusy float64       `json:"machineBusyPct"` // all cores, 100 % = every core busy
}

// Sampler reads the resources every interval.
type Sampler struct {
	start  time.Time
	server *Server

	mu      sync.Mutex
	samples []Sample
}

// Run samples until ctx ends.
func (s *Sampler) Run(ctx context.Context, every time.Duration) {
	fsPid := findProcess("CloudFirestore", "start")
	authPid := findProcess("emulators:start", "auth")
	self := os.Getpid()
	prevT := time.Now()
	prevSrv, prevSelf := s.server.CPU(), procCPU(self)
	prevFS, prevAuth := procCPU(fsPid), procCPU(authPid)
	prevBusy, prevTotal := machineCPU()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		dt := now.Sub(prevT).Seconds()
		srv, me := s.server.CPU(), procCPU(self)
		fs, au := procCPU(fsPid), procCPU(authPid)
		busy, total := machineCPU()
		pctOf := func(a, b time.Duration) float64 { return max(0, 100*(a-b).Seconds()/dt) }
		sm := Sample{
			At:        now.Sub(s.start),
			ServerCPU: pctOf(srv, prevSrv), LoadCPU: pctOf(me, prevSelf),
			FirestoreEm: pctOf(fs, prevFS), AuthEm: pctOf(au, prevAuth),
		}
		if pid := s.server.Pid(); pid != 0 {
			sm.ServerRSS = procRSS(pid)
		}
		if total > prevTotal {
			sm.MachineBusy = 100 * float64(busy-prevBusy) / float64(total-prevTotal)
		}
		s.mu.Lock()
		s.samples = append(s.samples, sm)
		s.mu.Unlock()
		prevT, prevSrv, prevSelf, prevFS, prevAuth, prevBusy, prevTotal = now, srv, me, fs, au, busy, total
	}
}

// Samples returns what was read.
func (s *Sampler) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}
