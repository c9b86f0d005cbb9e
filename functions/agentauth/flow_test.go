package agentauth

import (
	"context"
	"testing"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/apptest"
)

// The interactive pairing of a new agent, end to end: device code → poll
// (pending) → a member authorizes → poll delivers once → refresh → the access
// token verifies with the agent's claims → revocation → refresh is 401.
func TestPairingEndToEnd(t *testing.T) {
	f := newFixture(t)
	step := func(name, path string, body map[string]any, cred apptest.Cred, want int) *apptest.Response {
		t.Helper()
		r := f.Do("POST", path, cred, body, nil)
		if r.StatusCode != want {
			t.Fatalf("%s: %d %s, want %d", name, r.StatusCode, r.Raw, want)
		}
		return r
	}
	dc := step("device-code", devicePath, map[string]any{"machineId": "GALLERY-PC", "version": "2.4.0"}, nil, 200)
	phrase, code := dc.JSON["pairPhrase"].(string), dc.JSON["deviceCode"].(string)
	step("poll before authorize", pollPath, map[string]any{"deviceCode": code}, nil, 202)
	a := step("authorize", authorizePath, map[string]any{"pairPhrase": phrase, "siteId": f.site}, apptest.WithCookie(f.member.Cookie()), 200)
	if a.JSON["machineId"] != "GALLERY-PC" {
		t.Errorf("authorize: %s", a.Raw)
	}
	p := step("poll after authorize", pollPath, map[string]any{"deviceCode": code}, nil, 200)
	step("poll again", pollPath, map[string]any{"deviceCode": code}, nil, 404)
	step("poll by phrase", pollPath, map[string]any{"pairPhrase": phrase}, nil, 404)
	if p.JSON["siteId"] != f.site {
		t.Errorf("poll: %s", p.Raw)
	}
	f.wantClaims(t, p.JSON["accessToken"].(string), f.site, "GALLERY-PC", "2.4.0")

	refresh := p.JSON["refreshToken"].(string)
	body := map[string]any{"refreshToken": refresh, "machineId": "GALLERY-PC"}
	r := step("refresh", refreshPath, body, nil, 200)
	tok := f.verify(t, r.JSON["accessToken"].(string))
	if tok.UID != agenttoken.UID(f.site, "GALLERY-PC") || tok.Claims["role"] != "agent" || tok.Claims["site_id"] != f.site ||
		tok.Claims["machine_id"] != "GALLERY-PC" || tok.Claims["version"] != "2.4.0" {
		t.Errorf("refreshed token %s %v", tok.UID, tok.Claims)
	}
	step("refresh from another machine", refreshPath, map[string]any{"refreshToken": refresh, "machineId": "OTHER"}, nil, 403)

	// Revocation (E41) deletes the document.
	if _, err := agenttoken.RefreshRef(f.FS, refresh).Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	step("refresh after revocation", refreshPath, body, nil, 401)
}

// The pre-authorized /ADD= flow (DECISIONS 12.9, 12.10): the dashboard asks
// for a phrase with {} and authorizes it at once; the installer's agent
// polls by phrase only, gets a placeholder-bound token with a short
// expiresIn, refreshes with its hostname and is rebound; another machine
// with the same refresh token is refused.
func TestPreauthorizedPairing(t *testing.T) {
	f := newFixture(t)
	dc := f.Do("POST", devicePath, apptest.WithCookie(f.member.Cookie()), map[string]any{}, nil)
	phrase := dc.JSON["pairPhrase"].(string)
	if a := f.Do("POST", authorizePath, apptest.WithCookie(f.member.Cookie()), map[string]any{"pairPhrase": phrase, "siteId": f.site}, nil); a.StatusCode != 200 || a.JSON["machineId"] != nil {
		t.Fatalf("authorize: %d %s", a.StatusCode, a.Raw)
	}
	p := f.Do("POST", pollPath, nil, map[string]any{"pairPhrase": phrase}, nil)
	if p.StatusCode != 200 {
		t.Fatalf("poll: %d %s", p.StatusCode, p.Raw)
	}
	if n, _ := p.JSON["expiresIn"].(float64); n <= 0 || n > 300 {
		t.Errorf("placeholder token expiresIn %v, want a small positive value (≤ 300)", p.JSON["expiresIn"])
	}
	placeholder := agenttoken.Placeholder(phrase)
	f.wantClaims(t, p.JSON["accessToken"].(string), f.site, placeholder, "unknown")

	refresh := p.JSON["refreshToken"].(string)
	r := f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": refresh, "machineId": "LOBBY-SCREEN"}, nil)
	if r.StatusCode != 200 {
		t.Fatalf("first refresh: %d %s", r.StatusCode, r.Raw)
	}
	f.wantClaims(t, r.JSON["accessToken"].(string), f.site, "LOBBY-SCREEN", "unknown")
	d := f.Doc("agent_refresh_tokens/" + agenttoken.Hash(refresh))
	if d["machineId"] != "LOBBY-SCREEN" || d["agentUid"] != agenttoken.UID(f.site, "LOBBY-SCREEN") || d["reboundFrom"] != placeholder {
		t.Errorf("rebound doc %v", d)
	}
	if r := f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": refresh, "machineId": "ANOTHER-PC"}, nil); r.StatusCode != 403 {
		t.Errorf("refresh from another machine after rebinding: %d %s", r.StatusCode, r.Raw)
	}
	if r := f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": refresh, "machineId": "LOBBY-SCREEN"}, nil); r.StatusCode != 200 {
		t.Errorf("refresh by the bound machine: %d %s", r.StatusCode, r.Raw)
	}
}
