package agentauth

import (
	"net/http"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/pairphrase"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

var (
	errPollNothing = web.BadRequest("pairPhrase or deviceCode is required")
	errPollUnknown = web.NotFound("Unknown or already used pair phrase or device code")
	errPollState   = web.BadRequest("Device code is in an invalid state")
)

type pollRequest struct {
	PairPhrase string `json:"pairPhrase"`
	DeviceCode string `json:"deviceCode"`
}

// poll is X03: 202 while pending; 200 with the tokens exactly once (the
// document is deleted conditionally on being unchanged since it was read,
// so of concurrent polls one wins and the others get 404); 410 expired
// (deleted); 404 unknown; 400 otherwise. The phrase alone suffices (/ADD=).
//
// DECISIONS 12.10: expiresIn is the access token's real remaining lifetime
// (it was minted at authorize time), and at most PlaceholderExpiresIn for a
// token bound to a placeholder machine id, so the agent refreshes — and
// rebinds — at once.
func (h *handlers) poll(w http.ResponseWriter, r *http.Request) error {
	var req pollRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	coll := h.d.Firestore.Collection(agenttoken.DeviceCodes)
	var snap *firestore.DocumentSnapshot
	switch phrase := pairphrase.Clean(req.PairPhrase); {
	case phrase != "":
		if !store.ValidID(phrase) {
			return errPollUnknown
		}
		s, err := coll.Doc(phrase).Get(ctx)
		if store.NotFound(err) {
			return errPollUnknown
		}
		if err != nil {
			return fail(w, "read the device code", err)
		}
		snap = s
	case req.DeviceCode != "":
		snaps, err := coll.Where("deviceCodeHash", "==", agenttoken.Hash(req.DeviceCode)).Limit(1).Documents(ctx).GetAll()
		if err != nil {
			return fail(w, "look up the device code", err)
		}
		if len(snaps) == 0 {
			return errPollUnknown
		}
		snap = snaps[0]
	default:
		return errPollNothing
	}

	// The device code exists: charge its own budget.
	if err := app.Gate(r).ChargeKey(ctx, w, "device:"+snap.Ref.ID); err != nil {
		return err
	}
	data := snap.Data()
	now := h.d.Now()
	if expired(data["expiresAt"], now, true) {
		h.dropExpired(r, snap)
		return web.Errorf(http.StatusGone, "expired")
	}
	access, refresh := str(data["accessToken"]), str(data["refreshToken"])
	switch {
	case data["status"] == "pending":
		return web.JSON(w, http.StatusAccepted, web.M{"status": "pending"})
	case data["status"] != "authorized" || access == "" || refresh == "":
		return errPollState
	}
	if _, err := snap.Ref.Delete(ctx, firestore.LastUpdateTime(snap.UpdateTime)); err != nil {
		if conflict(err) { // collected by a concurrent poll
			return errPollUnknown
		}
		return fail(w, "deliver the tokens", err)
	}
	secret(w)
	return web.OK(w, web.M{
		"accessToken":  access,
		"refreshToken": refresh,
		"expiresIn":    remaining(access, data, now),
		"siteId":       data["siteId"],
	})
}

// remaining is the access token's remaining lifetime in seconds, from its
// exp claim (or from authorizedAt), capped for placeholder-bound tokens.
func remaining(access string, data map[string]any, now time.Time) int {
	left := agenttoken.ExpiresIn
	if exp, ok := agenttoken.ExpiresAt(access); ok {
		left = int(exp.Sub(now) / time.Second)
	} else if ms, ok := store.Millis(data["authorizedAt"]); ok {
		left = agenttoken.ExpiresIn - int(now.Sub(time.UnixMilli(ms))/time.Second)
	}
	left = min(max(left, 0), agenttoken.ExpiresIn)
	if str(data["machineId"]) == "" {
		left = min(left, PlaceholderExpiresIn)
	}
	return left
}
