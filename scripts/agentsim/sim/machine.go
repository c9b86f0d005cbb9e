package sim

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"
)

// Process statuses reported in metrics.processes (datamodel.md §2.2).
const (
	StatusLaunching = "LAUNCHING"
	StatusRunning   = "RUNNING"
	StatusStalled   = "STALLED"
	StatusKilled    = "KILLED"
	StatusStopped   = "STOPPED"
	StatusInactive  = "INACTIVE"
)

// process is one configured process and its simulated runtime state.
type process struct {
	conf   map[string]any // the config object (id, name, exe_path, …)
	pid    int            // 0 = not running
	status string
	// killed: a manual kill holds the process down until its mode changes.
	killed  bool
	updated time.Time
}

func (p *process) id() string   { s, _ := p.conf["id"].(string); return s }
func (p *process) name() string { s, _ := p.conf["name"].(string); return s }
func (p *process) mode() string {
	if m, _ := p.conf["launch_mode"].(string); m != "" {
		return m
	}
	if a, ok := p.conf["autolaunch"].(bool); ok && a {
		return "always"
	}
	return "off"
}

// machine is the simulated Windows machine: its processes and sensors.
type machine struct {
	mu      sync.Mutex
	rng     *rand.Rand
	procs   []*process
	nextPID int
	cpu     float64
	gpu     float64
	mem     float64
	// software is the simulated registry inventory.
	software []map[string]any
}

func newMachine(machineID string) *machine {
	h := fnv.New64a()
	h.Write([]byte(machineID))
	seed := h.Sum64()
	m := &machine{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), nextPID: 4000 + int(seed%1000)*4}
	m.cpu, m.gpu, m.mem = 12, 20, 40
	m.software = []map[string]any{
		{"name": "TouchDesigner", "version": "2023.12000", "publisher": "Derivative", "install_location": `C:\Program Files\Derivative\TouchDesigner`, "uninstall_command": `"C:\Program Files\Derivative\TouchDesigner\unins000.exe"`, "registry_key": `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\TouchDesigner`, "installer_type": "inno"},
		{"name": "Owlette Agent", "version": "2.6.0", "publisher": "owlette", "install_location": `C:\ProgramData\Owlette`, "uninstall_command": `"C:\ProgramData\Owlette\unins000.exe"`, "registry_key": `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\Owlette_is1`, "installer_type": "inno"},
	}
	return m
}

// defaultProcesses is the local config of a fresh simulated agent: two
// processes, one always-on and one off.
func defaultProcesses(machineID string) []any {
	return []any{
		map[string]any{
			"id": processID(machineID, "TouchDesigner"), "name": "TouchDesigner",
			"exe_path": `C:\Program Files\Derivative\TouchDesigner\bin\TouchDesigner.exe`, "file_path": `C:\Projects\show\show.toe`,
			"cwd": `C:\Projects\show`, "priority": "Normal", "visibility": "Show", "time_delay": 0, "time_to_init": 10,
			"relaunch_attempts": 3, "autolaunch": true, "launch_mode": "always", "schedules": nil, "check_responsive": true,
		},
		map[string]any{
			"id": processID(machineID, "Signage"), "name": "Signage",
			"exe_path": `C:\Signage\player.exe`, "file_path": "", "cwd": `C:\Signage`, "priority": "Normal", "visibility": "Hide",
			"time_delay": 0, "time_to_init": 10, "relaunch_attempts": 3, "autolaunch": false, "launch_mode": "off",
			"schedules": nil, "check_responsive": true,
		},
	}
}

// processID is a stable uuid-shaped id per machine and process name.
func processID(machineID, name string) string {
	sum := md5.Sum([]byte(machineID + "/" + name))
	h := hex.EncodeToString(sum[:])
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// localConfig is the agent's config.json minus `firebase`, as it seeds the
// config doc (datamodel.md §2.7).
func localConfig(machineID string) map[string]any {
	return map[string]any{
		"version":     "1.6.0",
		"environment": "production",
		"processes":   defaultProcesses(machineID),
		"logging": map[string]any{
			"level": "INFO", "max_age_days": 7,
			"firebase_shipping": map[string]any{"enabled": false, "ship_errors_only": true},
		},
	}
}

// applyConfig replaces the process list by the config doc's `processes`:
// known ids keep their runtime state, vanished ones are dropped (killed),
// newly active ones are launched. It returns whether anything changed.
func (m *machine) applyConfig(procs []any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := map[string]*process{}
	for _, p := range m.procs {
		old[p.id()] = p
	}
	var next []*process
	for i, raw := range procs {
		conf, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		conf = cloneMap(conf)
		if _, ok := conf["index"]; !ok {
			conf["index"] = i
		}
		id, _ := conf["id"].(string)
		p := old[id]
		if p == nil {
			p = &process{status: StatusInactive}
		} else if p.mode() != modeOf(conf) {
			p.killed = false
		}
		p.conf = conf
		next = append(next, p)
	}
	m.procs = next
	for _, p := range m.procs {
		m.settle(p)
	}
}

func modeOf(conf map[string]any) string { return (&process{conf: conf}).mode() }

// settle makes a process's state follow its launch mode: an active mode
// starts it (unless manually killed), "off" leaves it as it is.
func (m *machine) settle(p *process) {
	switch {
	case p.mode() != "off" && p.pid == 0 && !p.killed:
		m.start(p)
	case p.pid == 0 && p.status != StatusKilled:
		if p.mode() == "off" {
			p.status = StatusInactive
		} else {
			p.status = StatusStopped
		}
		p.updated = time.Now()
	}
}

func (m *machine) start(p *process) int {
	m.nextPID += 4
	p.pid, p.status, p.killed, p.updated = m.nextPID, StatusRunning, false, time.Now()
	return p.pid
}

func (m *machine) find(name string) *process {
	for _, p := range m.procs {
		if p.name() == name {
			return p
		}
	}
	return nil
}

// restart is restart_process.
func (m *machine) restart(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.find(name)
	if p == nil {
		return fmt.Sprintf("Process %s not found in configuration", name)
	}
	if p.pid != 0 {
		pid := m.start(p)
		return fmt.Sprintf("Process %s restarted with new PID %d", name, pid)
	}
	pid := m.start(p)
	return fmt.Sprintf("Process %s started with PID %d", name, pid)
}

// kill is kill_process: no relaunch until the mode changes.
func (m *machine) kill(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.find(name)
	if p == nil {
		return fmt.Sprintf("Error: Process %s not found in configuration", name)
	}
	p.pid, p.status, p.killed, p.updated = 0, StatusKilled, true, time.Now()
	return fmt.Sprintf("Process %s killed successfully", name)
}

// setLaunchMode is set_launch_mode (local config only, as the real agent).
func (m *machine) setLaunchMode(name, mode string, schedules any, hasSchedules bool) string {
	switch mode {
	case "off", "always", "scheduled":
	case "":
		mode = "off"
	default:
		return fmt.Sprintf("Error: Invalid launch mode '%s' (use off, always or scheduled)", mode)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.find(name)
	if p == nil {
		return fmt.Sprintf("Error: Process %s not found in configuration", name)
	}
	p.conf["launch_mode"] = mode
	p.conf["autolaunch"] = mode != "off"
	if hasSchedules {
		p.conf["schedules"] = schedules
	}
	p.killed = false
	m.settle(p)
	return fmt.Sprintf("Launch mode for %s set to %s", name, mode)
}

// processesMap is metrics.processes: config id → process entry.
func (m *machine) processesMap() map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]any{}
	for i, p := range m.procs {
		c := p.conf
		var pid any
		if p.pid != 0 {
			pid = p.pid
		}
		idx := c["index"]
		if idx == nil {
			idx = i
		}
		out[p.id()] = map[string]any{
			"name": c["name"], "exe_path": c["exe_path"], "file_path": c["file_path"], "cwd": c["cwd"],
			"autolaunch": p.mode() != "off", "launch_mode": p.mode(), "schedules": c["schedules"],
			"priority": c["priority"], "visibility": c["visibility"], "time_delay": c["time_delay"],
			"time_to_init": c["time_to_init"], "relaunch_attempts": c["relaunch_attempts"], "index": idx,
			"pid": pid, "status": p.status, "responsive": p.status == StatusRunning,
			"last_updated": float64(p.updated.UnixMilli()) / 1000,
		}
	}
	return out
}

// anyRunning reports a RUNNING or LAUNCHING process.
func (m *machine) anyRunning() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.procs {
		if p.status == StatusRunning || p.status == StatusLaunching {
			return true
		}
	}
	return false
}

func (m *machine) walk(v *float64, lo, hi, step float64) float64 {
	*v += (m.rng.Float64()*2 - 1) * step
	*v = math.Max(lo, math.Min(hi, *v))
	return math.Round(*v*10) / 10
}

// metrics returns metrics.cpu/memory/disk/gpu/network (datamodel.md §2.2).
func (m *machine) metrics() map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	cpu := m.walk(&m.cpu, 2, 95, 6)
	gpu := m.walk(&m.gpu, 0, 99, 8)
	mem := m.walk(&m.mem, 20, 90, 2)
	memTotal := 32.0
	tx := 20000 + m.rng.IntN(200000)
	rx := 50000 + m.rng.IntN(800000)
	return map[string]any{
		"cpu":    map[string]any{"name": "Intel(R) Core(TM) i7-12700K", "percent": cpu, "unit": "%", "temperature": math.Round((40+cpu/3)*10) / 10},
		"memory": map[string]any{"used_gb": math.Round(memTotal*mem/10) / 10, "total_gb": memTotal, "percent": mem, "unit": "GB"},
		"disk":   map[string]any{"used_gb": 412.3, "total_gb": 953.9, "percent": 43.2, "unit": "GB"},
		"gpu": map[string]any{"name": "NVIDIA GeForce RTX 4080", "usage_percent": gpu, "vram_used_gb": math.Round(16*gpu/10) / 10,
			"vram_total_gb": 16.0, "unit": "GB", "temperature": math.Round((35+gpu/2.5)*10) / 10},
		"network": map[string]any{
			"interfaces": map[string]any{
				"Ethernet": map[string]any{"tx_bps": tx, "rx_bps": rx, "tx_util": math.Round(float64(tx)/1e9*1000) / 10,
					"rx_util": math.Round(float64(rx)/1e9*1000) / 10, "link_speed": 1000},
			},
			"gateway_ip": "192.168.1.1", "latency_ms": math.Round((1+m.rng.Float64()*3)*10) / 10, "packet_loss_pct": 0.0,
		},
	}
}

// softwareDocs returns the installed_software docs by id (§2.4) and a hash
// of the name:version pairs.
func (m *machine) softwareDocs() (map[string]map[string]any, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	docs := map[string]map[string]any{}
	var pairs []string
	for _, s := range m.software {
		id := strings.NewReplacer("/", "_", `\`, "_").Replace(fmt.Sprintf("%s_%s", s["name"], s["version"]))
		if len(id) > 1500 {
			id = id[:1500]
		}
		docs[id] = cloneMap(s)
		pairs = append(pairs, fmt.Sprintf("%s:%s", s["name"], s["version"]))
	}
	sort.Strings(pairs)
	sum := md5.Sum([]byte(strings.Join(pairs, "|")))
	return docs, hex.EncodeToString(sum[:])
}

// installSoftware records a simulated installation.
func (m *machine) installSoftware(name, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.software {
		if s["name"] == name {
			s["version"] = version
			return
		}
	}
	m.software = append(m.software, map[string]any{
		"name": name, "version": version, "publisher": "", "install_location": `C:\Program Files\` + name,
		"uninstall_command": `"C:\Program Files\` + name + `\uninstall.exe"`, "registry_key": `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\` + name,
		"installer_type": "custom",
	})
}

// uninstallSoftware removes a simulated installation; false if unknown.
func (m *machine) uninstallSoftware(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range m.software {
		if s["name"] == name {
			m.software = append(m.software[:i], m.software[i+1:]...)
			return true
		}
	}
	return false
}

// cloneMap deep-copies maps and slices, keeping scalar types.
func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = cloneValue(e)
		}
		return c
	default:
		return v
	}
}

// hashJSON is the listener's change detector (MD5 of the JSON, §4.3).
func hashJSON(v any) string {
	b, _ := json.Marshal(v)
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}
