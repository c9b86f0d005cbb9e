package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Agent-side HTTP timeouts (datamodel.md §4.1).
const (
	authTimeout       = 30 * time.Second
	pollTimeout       = 15 * time.Second
	screenshotTimeout = 30 * time.Second
)

// APIError is a non-2xx answer of the owlette API; Message is the body's
// "error" field (what the agent shows and logs).
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("api: %d %s", e.Status, e.Message) }

// APIStatus returns the HTTP status of an APIError, else 0.
func APIStatus(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// API calls the owlette HTTP API the way the agent does (datamodel.md §4.1,
// §13): JSON bodies, the agent's User-Agent on refresh, {error} bodies.
type API struct {
	// Base is the API root, e.g. http://127.0.0.1:18080/api.
	Base string
	HTTP *http.Client
	// ClientIP, when set, is sent as X-Forwarded-For so that a local load
	// test spreads the server's per-IP rate limits over simulated machines.
	ClientIP string
	// Observe, when set, is told the outcome of every request.
	Observe func(op string, d time.Duration, status int, err error)
}

// call POSTs body to path and decodes a 2xx answer into out. It returns
// the status; a non-2xx status also returns an *APIError.
func (a *API) call(ctx context.Context, op, path string, timeout time.Duration, hdr http.Header, body, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	status, err := a.roundTrip(ctx, path, hdr, body, out)
	if a.Observe != nil {
		a.Observe(op, time.Since(start), status, err)
	}
	return status, err
}

func (a *API) roundTrip(ctx context.Context, path string, hdr http.Header, body, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.Base, "/")+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header[k] = v
	}
	if a.ClientIP != "" {
		req.Header.Set("X-Forwarded-For", a.ClientIP)
	}
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return resp.StatusCode, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("api %s: bad JSON answer: %w", path, err)
		}
	}
	return resp.StatusCode, nil
}

// DeviceCode is X01's answer.
type DeviceCode struct {
	PairPhrase      string `json:"pairPhrase"`
	DeviceCode      string `json:"deviceCode"`
	VerificationURI string `json:"verificationUri"`
	PairingURL      string `json:"pairingUrl"`
	QRURL           string `json:"qrUrl"`
	ExpiresIn       int    `json:"expiresIn"`
	Interval        int    `json:"interval"`
}

// Tokens is the answer of poll (X03), exchange (E14) and refresh (E15,
// which has no refreshToken/siteId).
type Tokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int    `json:"expiresIn"`
	SiteID       string `json:"siteId"`
}

// StartDeviceCode is X01: POST {api}/agent/auth/device-code {machineId, version}.
func (a *API) StartDeviceCode(ctx context.Context, machineID, version string) (*DeviceCode, error) {
	var out DeviceCode
	if _, err := a.call(ctx, "device-code", "/agent/auth/device-code", authTimeout, nil,
		map[string]any{"machineId": machineID, "version": version}, &out); err != nil {
		return nil, err
	}
	if out.DeviceCode == "" || out.PairPhrase == "" {
		return nil, errors.New("device-code: answer without deviceCode/pairPhrase")
	}
	return &out, nil
}

// Poll is X03 with the device code: it returns the status (202 pending,
// 200 tokens, 410 expired, …) and the tokens on 200.
func (a *API) Poll(ctx context.Context, deviceCode string) (int, *Tokens, error) {
	var out Tokens
	status, err := a.call(ctx, "poll", "/agent/auth/device-code/poll", pollTimeout, nil,
		map[string]any{"deviceCode": deviceCode}, &out)
	if err != nil || status != http.StatusOK {
		return status, nil, err
	}
	return status, &out, nil
}

// Authorize is X02, what the dashboard calls for a signed-in user: POST
// {api}/agent/auth/device-code/authorize {pairPhrase, siteId} with the
// user's __session cookie.
func (a *API) Authorize(ctx context.Context, cookie, phrase, siteID string) error {
	hdr := http.Header{"Cookie": {cookieHeader(cookie)}}
	_, err := a.call(ctx, "authorize", "/agent/auth/device-code/authorize", authTimeout, hdr,
		map[string]any{"pairPhrase": phrase, "siteId": siteID}, nil)
	return err
}

// Exchange is E14: a registration code for tokens.
func (a *API) Exchange(ctx context.Context, code, machineID, version string) (*Tokens, error) {
	var out Tokens
	if _, err := a.call(ctx, "exchange", "/agent/auth/exchange", authTimeout, nil,
		map[string]any{"registrationCode": code, "machineId": machineID, "version": version}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Refresh is E15 with the agent's headers.
func (a *API) Refresh(ctx context.Context, refreshToken, machineID, version string) (*Tokens, error) {
	hdr := http.Header{
		"User-Agent":              {fmt.Sprintf("Owlette-Agent/%s (Windows; %s)", version, machineID)},
		"X-Owlette-Agent-Version": {version},
	}
	var out Tokens
	if _, err := a.call(ctx, "refresh", "/agent/auth/refresh", authTimeout, hdr,
		map[string]any{"refreshToken": refreshToken, "machineId": machineID}, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" {
		return nil, errors.New("refresh: answer without accessToken")
	}
	return &out, nil
}

// Screenshot is E18: POST {api}/agent/screenshot with the agent's ID token.
func (a *API) Screenshot(ctx context.Context, idToken, siteID, machineID, b64JPEG, version string) (url string, sizeKB int, err error) {
	hdr := http.Header{"Authorization": {"Bearer " + idToken}}
	var out struct {
		URL    string `json:"url"`
		SizeKB int    `json:"sizeKB"`
	}
	_, err = a.call(ctx, "screenshot", "/agent/screenshot", screenshotTimeout, hdr,
		map[string]any{"siteId": siteID, "machineId": machineID, "screenshot": b64JPEG, "agentVersion": version}, &out)
	return out.URL, out.SizeKB, err
}

// cookieHeader accepts a bare __session value or a whole Cookie header
// ("__session=…", possibly with other cookies).
func cookieHeader(c string) string {
	c = strings.TrimSpace(c)
	if strings.HasPrefix(c, "__session=") || strings.Contains(c, "; ") {
		return c
	}
	return "__session=" + c
}
