// Package tools is the registry of the machine tools Cortex and API-key
// callers can run (api.md §2.20 "Tool registry", X04, X05; datamodel.md
// §5.8): each tool's name, tier (1 read-only, 2 process control, 3 commands,
// files and power), JSON-schema parameters and how it reaches the machine.
//
// Routing: a tool with Command set is queued as that native agent command
// (start_process becomes restart_process: the agent has no start_process);
// ServerSide tools run on the server in Cortex chat; every other tool, and
// the server-side ones when relayed, is queued as an mcp_tool_call the agent
// runs locally.
//
// Names, tiers, required parameters and routing follow the contract; the
// descriptions are this server's own wording.
package tools

// Tool is one registry entry.
type Tool struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Tier        int            `json:"tier"`
	Parameters  map[string]any `json:"parameters"`
	// Command is the native command type the tool is queued as; "" means
	// an mcp_tool_call.
	Command string `json:"-"`
	// ServerSide tools are answered by the server in Cortex chat (E52).
	ServerSide bool `json:"-"`
}

// Required lists the parameters that must be present and not null or "".
func (t Tool) Required() []string {
	r, _ := t.Parameters["required"].([]string)
	return r
}

type prop struct{ name, typ, desc string }

// schema is a JSON-schema object of props; names in required must be given.
func schema(required []string, props ...prop) map[string]any {
	p := make(map[string]any, len(props))
	for _, x := range props {
		p[x.name] = map[string]any{"type": x.typ, "description": x.desc}
	}
	if required == nil {
		required = []string{}
	}
	return map[string]any{"type": "object", "properties": p, "required": required}
}

func req(names ...string) []string { return names }

var (
	processName = prop{"process_name", "string", "Name of the process exactly as configured in owlette"}
	path        = prop{"path", "string", "Absolute file or directory path on the machine"}
	userSession = prop{"user_session", "boolean", "Run in the interactive user's session instead of the service session"}
)

// All is the registry in its display order (tier 1, 2, 3).
var All = []Tool{
	// Tier 1: read-only.
	{Name: "get_site_logs", Tier: 1, ServerSide: true,
		Description: "Read the site's event log (process crashes, restarts, deployments, agent start/stop), newest first.",
		Parameters: schema(nil,
			prop{"limit", "number", "Maximum number of entries (default 50)"},
			prop{"action", "string", "Only entries with this action, e.g. process_crash"},
			prop{"level", "string", "Only entries with this level: info, warning or error"},
			prop{"machineId", "string", "Only entries of this machine"})},
	{Name: "get_system_info", Tier: 1, Description: "Hostname, operating system, uptime, agent version and current CPU, memory, disk and GPU usage.", Parameters: schema(nil)},
	{Name: "get_process_list", Tier: 1, Description: "The processes owlette manages on the machine, with status, PID, launch mode and schedules.", Parameters: schema(nil)},
	{Name: "get_running_processes", Tier: 1, Description: "All processes running on the machine with their CPU and memory use.",
		Parameters: schema(nil)},
	{Name: "get_gpu_processes", Tier: 1, Description: "Processes using the GPU and their video memory.", Parameters: schema(nil)},
	{Name: "get_network_info", Tier: 1, Description: "Network interfaces, addresses, link speed, gateway latency and packet loss.", Parameters: schema(nil)},
	{Name: "get_disk_usage", Tier: 1, Description: "Used and free space of every drive.", Parameters: schema(nil)},
	{Name: "get_event_logs", Tier: 1, Description: "Recent entries of the Windows event logs.", Parameters: schema(nil)},
	{Name: "get_service_status", Tier: 1, Description: "Status and start type of a Windows service.",
		Parameters: schema(req("service_name"), prop{"service_name", "string", "Service name, e.g. Spooler"})},
	{Name: "get_agent_config", Tier: 1, Description: "The owlette agent's configuration on the machine (secrets removed).", Parameters: schema(nil)},
	{Name: "get_agent_logs", Tier: 1, Description: "The last lines of the owlette agent's log file.", Parameters: schema(nil)},
	{Name: "get_agent_health", Tier: 1, Description: "The agent's connection state, last errors and thread health.", Parameters: schema(nil)},
	{Name: "get_system_presets", Tier: 1, ServerSide: true, Description: "The software presets available for deployment (name, installer URL, silent flags).", Parameters: schema(nil)},

	// Tier 2: process control.
	{Name: "restart_process", Tier: 2, Command: "restart_process", Description: "Restart a managed process (start it if it is not running).",
		Parameters: schema(req("process_name"), processName)},
	{Name: "kill_process", Tier: 2, Command: "kill_process", Description: "Stop a managed process; it is not relaunched until its launch mode changes.",
		Parameters: schema(req("process_name"), processName)},
	{Name: "start_process", Tier: 2, Command: "restart_process", Description: "Start a managed process that is not running.",
		Parameters: schema(req("process_name"), processName)},
	{Name: "set_launch_mode", Tier: 2, Command: "set_launch_mode", Description: "Set when a managed process runs: off, always, or on a schedule.",
		Parameters: schema(req("process_name", "mode"), processName,
			prop{"mode", "string", "off, always or scheduled"},
			prop{"schedules", "array", "For scheduled: [{days:[\"mon\",…], ranges:[{start:\"HH:MM\", stop:\"HH:MM\"}]}]"})},
	{Name: "capture_screenshot", Tier: 2, Description: "Take a screenshot of the machine's displays and return its URL.",
		Parameters: schema(nil, prop{"monitor", "number", "0 for all displays (default), n for the n-th display"})},

	// Tier 3: commands, files, deployment and power.
	{Name: "run_command", Tier: 3, Description: "Run a cmd.exe command and return its output.",
		Parameters: schema(req("command"), prop{"command", "string", "The command line"}, userSession)},
	{Name: "run_powershell", Tier: 3, Description: "Run a PowerShell script and return its output.",
		Parameters: schema(req("script"), prop{"script", "string", "The PowerShell script"}, userSession)},
	{Name: "run_python", Tier: 3, Description: "Run Python code in the interactive user's session and return its output.",
		Parameters: schema(req("code"), prop{"code", "string", "The Python source"})},
	{Name: "read_file", Tier: 3, Description: "Read a text file.",
		Parameters: schema(req("path"), path)},
	{Name: "write_file", Tier: 3, Description: "Write a text file (created or replaced).",
		Parameters: schema(req("path", "content"), path, prop{"content", "string", "The new content"})},
	{Name: "list_directory", Tier: 3, Description: "List a directory's files and folders with sizes and dates.",
		Parameters: schema(req("path"), path)},
	{Name: "execute_script", Tier: 3, Description: "Run a multi-line script and return its output.",
		Parameters: schema(req("script"), prop{"script", "string", "The script"})},
	{Name: "deploy_software", Tier: 3, ServerSide: true, Description: "Install software on the machine from an HTTPS installer URL, as a tracked deployment.",
		Parameters: schema(req("software_name"),
			prop{"software_name", "string", "Name of the software or preset"},
			prop{"installer_url", "string", "HTTPS URL of the installer"},
			prop{"silent_flags", "string", "Installer flags for a silent install"},
			prop{"timeout_minutes", "number", "Installation timeout in minutes (default 40)"})},
	{Name: "reboot_machine", Tier: 3, Command: "reboot_machine", Description: "Reboot the machine after 30 seconds (can be cancelled with cancel_reboot).", Parameters: schema(nil)},
	{Name: "shutdown_machine", Tier: 3, Command: "shutdown_machine", Description: "Shut the machine down after 30 seconds (can be cancelled with cancel_reboot).", Parameters: schema(nil)},
	{Name: "cancel_reboot", Tier: 3, Command: "cancel_reboot", Description: "Cancel a pending reboot or shutdown.", Parameters: schema(nil)},
}

var byName = func() map[string]Tool {
	m := make(map[string]Tool, len(All))
	for _, t := range All {
		m[t.Name] = t
	}
	return m
}()

// Lookup returns the tool called name.
func Lookup(name string) (Tool, bool) {
	t, ok := byName[name]
	return t, ok
}

// UpTo returns the tools of tier ≤ tier, in registry order.
func UpTo(tier int) []Tool {
	out := make([]Tool, 0, len(All))
	for _, t := range All {
		if t.Tier <= tier {
			out = append(out, t)
		}
	}
	return out
}
