package passkeys

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Ceremony types of a challenge document.
const (
	typeRegistration   = "registration"
	typeAuthentication = "authentication"
)

// challengeDoc is webauthn_challenges/{id}: the fields of api.md §1.11 plus
// the library's session data (JSON), which the finish step verifies against.
type challengeDoc struct {
	Challenge string    `firestore:"challenge"`
	UserID    *string   `firestore:"userId"`
	Type      string    `firestore:"type"`
	CreatedAt time.Time `firestore:"createdAt"`
	ExpiresAt time.Time `firestore:"expiresAt"`
	Session   string    `firestore:"session"`
}

var (
	errNoChallenge = web.BadRequest("Challenge not found or expired: start again")
	errChallenge   = web.BadRequest("Challenge does not match this request: start again")
)

func (h *handlers) challenges() *firestore.CollectionRef {
	return h.d.Firestore.Collection(ChallengeCollection)
}

// saveChallenge stores a ceremony's session data under id (overwriting, so a
// user has one registration in progress at a time).
func (h *handlers) saveChallenge(ctx context.Context, id, typ string, uid *string, sd *webauthn.SessionData) error {
	raw, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	now := h.d.Now()
	_, err = h.challenges().Doc(id).Set(ctx, challengeDoc{
		Challenge: sd.Challenge, UserID: uid, Type: typ,
		CreatedAt: now, ExpiresAt: now.Add(ChallengeTTL), Session: string(raw),
	})
	return err
}

// consumeChallenge reads and deletes a challenge in one transaction (so it
// is used once), then checks its expiry and type.
func (h *handlers) consumeChallenge(ctx context.Context, id, typ string) (*challengeDoc, *webauthn.SessionData, error) {
	if !store.ValidID(id) {
		return nil, nil, errNoChallenge
	}
	ref := h.challenges().Doc(id)
	var c challengeDoc
	err := h.d.Firestore.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		if err != nil {
			if snap != nil && !snap.Exists() {
				return errNoChallenge
			}
			return err
		}
		c = challengeDoc{}
		if err := snap.DataTo(&c); err != nil {
			// Unreadable: consume it anyway, it can never verify.
			c = challengeDoc{}
		}
		return tx.Delete(ref)
	})
	if err != nil {
		if errors.Is(err, errNoChallenge) {
			return nil, nil, errNoChallenge
		}
		return nil, nil, web.Internal(err)
	}
	if !h.d.Now().Before(c.ExpiresAt) {
		return nil, nil, errNoChallenge
	}
	if c.Type != typ {
		return nil, nil, errChallenge
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(c.Session), &sd); err != nil || sd.Challenge == "" || sd.Challenge != c.Challenge {
		return nil, nil, errChallenge.Wrap(err)
	}
	return &c, &sd, nil
}
