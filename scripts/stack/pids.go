package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func pidsPath(root string) string { return filepath.Join(root, stateDir, "pids") }

// pidEntry is one line of .stack/pids.
type pidEntry struct {
	name string
	pid  int
}

func parsePids(data string) []pidEntry {
	var out []pidEntry
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil || pid <= 1 {
			continue
		}
		out = append(out, pidEntry{f[0], pid})
	}
	return out
}

// alive reports whether pid runs a process whose command line contains
// marker (so a recycled pid is never signalled). Zombies count as gone.
func alive(pid int, marker string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc: best effort
	}
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(cmdline), marker)
}
