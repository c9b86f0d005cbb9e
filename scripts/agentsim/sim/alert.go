package sim

import (
	"context"
	"net/http"
	"time"
)

// alertTimeout is the agent's HTTP timeout for alerts (datamodel.md §4.1).
const alertTimeout = 10 * time.Second

// Alert is the body of E17 exactly as the agent sends it (datamodel.md
// §5.13): a process event carries EventType and ProcessName; a connection
// failure has no EventType and carries ErrorCode.
type Alert struct {
	EventType    string `json:"eventType,omitempty"`
	ProcessName  string `json:"processName,omitempty"`
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// AlertResult is E17's answer.
type AlertResult struct {
	Success    bool   `json:"success"`
	EmailSent  bool   `json:"emailSent"`
	Recipients int    `json:"recipients"`
	Reason     string `json:"reason"`
}

// Alert is E17: POST {api}/agent/alert with the agent's ID token.
func (a *API) Alert(ctx context.Context, idToken, siteID, machineID, version string, al Alert) (*AlertResult, error) {
	hdr := http.Header{"Authorization": {"Bearer " + idToken}}
	body := map[string]any{"siteId": siteID, "machineId": machineID, "agentVersion": version}
	if al.EventType != "" {
		body["eventType"] = al.EventType
		body["processName"] = al.ProcessName
	} else {
		body["errorCode"] = al.ErrorCode
	}
	body["errorMessage"] = al.ErrorMessage
	var out AlertResult
	if _, err := a.call(ctx, "alert", "/agent/alert", alertTimeout, hdr, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RaiseAlert sends an alert about this machine as the agent does when a
// process crashes, fails to start, or the connection fails.
func (a *Agent) RaiseAlert(ctx context.Context, al Alert) (*AlertResult, error) {
	tok, err := a.token(ctx)
	if err != nil {
		return nil, err
	}
	return a.api.Alert(ctx, tok, a.site, a.cfg.MachineID, a.agentVersion(), al)
}
