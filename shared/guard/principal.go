package guard

import (
	"slices"

	"firebase.google.com/go/v4/auth"

	"github.com/owlette/server/shared/session"
)

// How a principal authenticated.
const (
	ViaSession = "session"
	ViaAPIKey  = "apiKey"
	ViaIDToken = "idToken"
	ViaAgent   = "agent"
)

// Principal is the authenticated caller.
type Principal struct {
	UID string
	Via string
	// User is users/{uid}, when the guard needed it (nil if absent).
	User *User
	// SID and Session are set for session-cookie callers.
	SID     string
	Session *session.Record
	// APIKeyID is set for API-key callers.
	APIKeyID string
	// Token is the verified Firebase ID token (ID-token and agent callers).
	Token *auth.Token
}

// User is the part of users/{uid} the guards read.
type User struct {
	Email       string   `firestore:"email"`
	Role        string   `firestore:"role"`
	Sites       []string `firestore:"sites"`
	MFAEnrolled bool     `firestore:"mfaEnrolled"`
}

// IsAdmin reports the admin role.
func (p *Principal) IsAdmin() bool { return p.User != nil && p.User.Role == "admin" }

// Claim returns a string custom claim of an agent or ID-token principal.
func (p *Principal) Claim(name string) string {
	if p.Token == nil {
		return ""
	}
	s, _ := p.Token.Claims[name].(string)
	return s
}

// assigned reports whether siteID is in the user's sites.
func (u *User) assigned(siteID string) bool { return u != nil && slices.Contains(u.Sites, siteID) }
