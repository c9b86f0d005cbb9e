package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// probeState says what answers on a service's port.
type probeState int

const (
	stateDown  probeState = iota // nothing accepts connections
	stateOther                   // something answers, but not (yet) a ready instance of the service
	stateReady                   // the service answers and is ready
)

func (s probeState) String() string {
	switch s {
	case stateReady:
		return "ready"
	case stateOther:
		return "answering, not ready"
	default:
		return "down"
	}
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// probeHTTP GETs url and classifies the answer with ready.
func probeHTTP(ctx context.Context, url string, ready func(int, []byte) bool) probeState {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return stateDown
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return stateDown
		}
		return stateOther // accepted the connection, then failed or timed out
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if ready(resp.StatusCode, body) {
		return stateReady
	}
	return stateOther
}
