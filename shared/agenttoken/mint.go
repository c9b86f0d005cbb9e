package agenttoken

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"firebase.google.com/go/v4/auth"

	"github.com/owlette/server/shared/app"
)

// DefaultBase is the production Identity Toolkit endpoint.
const DefaultBase = "https://identitytoolkit.googleapis.com"

// MintTimeout bounds one Mint (claims, custom token, exchange, with the
// Admin SDK's own retries): a stuck upstream becomes a 503 well inside the
// agent's 30 s timeout and Hosting's 60 s limit.
const MintTimeout = 15 * time.Second

// httpClient is the one client for Identity Toolkit calls, created once per
// instance; it keeps connections alive between requests.
var httpClient = &http.Client{
	Timeout: 10 * time.Second,
	Transport: func() http.RoundTripper {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		return t
	}(),
}

// Minter mints agent access tokens. Build one per instance with New (the
// function's Register does).
type Minter struct {
	Auth *auth.Client
	// APIKey is the web API key the Identity Toolkit call carries.
	APIKey string
	// Base is the Identity Toolkit endpoint (the Auth emulator's locally).
	Base string
	// HTTP makes the Identity Toolkit call.
	HTTP *http.Client
	// Timeout bounds one Mint (0: none).
	Timeout time.Duration
}

// New builds the instance's Minter from its dependencies. With
// FIREBASE_AUTH_EMULATOR_HOST set, tokens come from the Auth emulator.
func New(d *app.Deps) *Minter {
	m := &Minter{Auth: d.Auth, APIKey: d.Config.FirebaseAPIKey, Base: DefaultBase, HTTP: httpClient, Timeout: MintTimeout}
	if h := d.Config.Emulators["FIREBASE_AUTH_EMULATOR_HOST"]; h != "" {
		m.Base = "http://" + h + "/identitytoolkit.googleapis.com"
		if m.APIKey == "" {
			m.APIKey = "emulator" // the emulator accepts any key
		}
	}
	return m
}

// Token is a freshly minted access token.
type Token struct {
	Identity
	// IDToken is the Firebase ID token agents use as their access token.
	IDToken string
	// CustomToken is the custom token it was exchanged from (sent as the
	// reference document's customToken field).
	CustomToken string
}

// Mint sets the identity's claims on its Firebase user, mints a custom token
// carrying the same claims and exchanges it for an ID token.
//
// Claims are set first, so the single exchange already yields a token whose
// persistent and developer claims agree (the original minted and exchanged
// twice). For a machine's first token the user does not exist yet: then the
// exchange creates it (the ID token carries the claims as developer claims)
// and the claims are persisted right after.
func (m *Minter) Mint(ctx context.Context, id Identity) (*Token, error) {
	if m.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.Timeout)
		defer cancel()
	}
	claims := id.Claims()
	err := m.Auth.SetCustomUserClaims(ctx, id.UID, claims)
	newUser := auth.IsUserNotFound(err)
	if err != nil && !newUser {
		return nil, &Error{Op: "set agent claims", Err: err}
	}
	ct, err := m.Auth.CustomTokenWithClaims(ctx, id.UID, claims)
	if err != nil {
		return nil, &Error{Op: "mint custom token", Err: err}
	}
	idt, err := m.Exchange(ctx, ct)
	if err != nil {
		return nil, err
	}
	if newUser {
		if err := m.Auth.SetCustomUserClaims(ctx, id.UID, claims); err != nil {
			return nil, &Error{Op: "set agent claims", Err: err}
		}
	}
	return &Token{Identity: id, IDToken: idt, CustomToken: ct}, nil
}

// Exchange trades a custom token for a Firebase ID token at the Identity
// Toolkit (accounts:signInWithCustomToken). Google's refresh token in the
// answer is discarded.
func (m *Minter) Exchange(ctx context.Context, customToken string) (string, error) {
	const op = "exchange custom token"
	if m.APIKey == "" {
		return "", &Error{Op: op, Err: errors.New("FIREBASE_API_KEY is not configured")}
	}
	body, _ := json.Marshal(map[string]any{"token": customToken, "returnSecureToken": true})
	u := strings.TrimRight(m.Base, "/") + "/v1/accounts:signInWithCustomToken?key=" + url.QueryEscape(m.APIKey)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", &Error{Op: op, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := m.HTTP.Do(req)
	if err != nil {
		return "", &Error{Op: op, Err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", &Error{Op: op, Err: err}
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		code, _, _ := strings.Cut(e.Error.Message, " ")
		return "", &Error{Op: op, Status: res.StatusCode, Code: code,
			Err: fmt.Errorf("identity toolkit answered %d: %s", res.StatusCode, snippet(raw))}
	}
	var out struct {
		IDToken string `json:"idToken"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.IDToken == "" {
		// A 200 without a token is a broken upstream (proxy, outage page).
		return "", &Error{Op: op, Status: http.StatusBadGateway, Err: fmt.Errorf("identity toolkit answered 200 without idToken: %s", snippet(raw))}
	}
	return out.IDToken, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
