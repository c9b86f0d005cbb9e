package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// IdentityToolkitBase is where password sign-in goes: the Auth emulator
// when FIREBASE_AUTH_EMULATOR_HOST is set, else Google's endpoint.
func IdentityToolkitBase() string {
	if h := os.Getenv("FIREBASE_AUTH_EMULATOR_HOST"); h != "" {
		return "http://" + h + "/identitytoolkit.googleapis.com"
	}
	return "https://identitytoolkit.googleapis.com"
}

// SignInCookie signs a dashboard user in with e-mail and password
// (Identity Toolkit accounts:signInWithPassword) and opens a session with
// the API (POST {api}/auth/session {idToken}), returning the Cookie header
// value "__session=…". With the local stack: the demo admin of `make dev`.
func SignInCookie(ctx context.Context, client *http.Client, api, toolkitBase, webAPIKey, email, password string) (string, error) {
	if client == nil {
		client = defaultHTTP
	}
	if webAPIKey == "" {
		webAPIKey = "fake-api-key"
	}
	body, _ := json.Marshal(map[string]any{"email": email, "password": password, "returnSecureToken": true})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
		strings.TrimRight(toolkitBase, "/")+"/v1/accounts:signInWithPassword?key="+webAPIKey, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	var tok struct {
		IDToken string `json:"idToken"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &tok) != nil || tok.IDToken == "" {
		return "", fmt.Errorf("sign in as %s: %d %s", email, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	body, _ = json.Marshal(map[string]any{"idToken": tok.IDToken})
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(api, "/")+"/auth/session", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err = client.Do(req)
	if err != nil {
		return "", fmt.Errorf("open session: %w", err)
	}
	data, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("open session: %d %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	for _, c := range resp.Cookies() {
		if c.Name == "__session" && c.Value != "" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("open session: no __session cookie in the answer")
}

// ReadCookieArg resolves the -authorize-cookie value: "@file" reads a
// curl/Netscape cookie jar (e.g. the cookies.txt of the `make dev` banner)
// or a file holding the bare value; anything else is the cookie itself.
func ReadCookieArg(v string) (string, error) {
	if !strings.HasPrefix(v, "@") {
		return cookieHeader(v), nil
	}
	b, err := os.ReadFile(v[1:])
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var lines []string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// curl marks HttpOnly cookies with this prefix.
		line = strings.TrimPrefix(line, "#HttpOnly_")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Split(line, "\t"); len(f) >= 7 {
			if f[5] == "__session" {
				return "__session=" + f[6], nil
			}
			continue
		}
		lines = append(lines, line)
	}
	if len(lines) == 1 {
		return cookieHeader(lines[0]), nil
	}
	return "", fmt.Errorf("%s: no __session cookie found", v[1:])
}
