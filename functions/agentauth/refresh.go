package agentauth

import (
	"context"
	"errors"
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

var (
	errRefreshUnknown  = web.Unauthorized("Invalid refresh token")
	errRefreshExpired  = web.Unauthorized("Refresh token has expired")
	errRefreshBroken   = web.Unauthorized("Invalid refresh token data")
	errRefreshMismatch = web.Forbidden("Machine ID mismatch")
)

type refreshRequest struct {
	RefreshToken string `json:"refreshToken"`
	MachineID    string `json:"machineId"`
}

func (q refreshRequest) Validate() error {
	if err := web.Required("refreshToken", q.RefreshToken); err != nil {
		return err
	}
	if err := web.Required("machineId", q.MachineID); err != nil {
		return err
	}
	return checkMachine("machineId", q.MachineID, "")
}

// refresh is E15. 401 and 403 only for the token's own state (unknown,
// expired, incomplete; bound to another machine): the agent wipes its
// credentials on those. Every upstream failure is 503 (transient) or 500.
//
// DECISIONS 12.9: a token bound to a placeholder machine id ("pending_…",
// pre-authorized /ADD= pairing) is rebound to the machine id of its first
// refresh — conditionally, so of two racing machines one wins and the other
// then gets 403 like any mismatch. The refresh token itself is not rotated.
func (h *handlers) refresh(w http.ResponseWriter, r *http.Request) error {
	var req refreshRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	ref := agenttoken.RefreshRef(h.d.Firestore, req.RefreshToken)
	id, err := h.checkRefresh(ctx, r, ref, req.MachineID)
	if err != nil {
		return fail(w, "check the refresh token", err)
	}
	// The token is real: charge its own budget and its machine's (a machine
	// re-paired keeps its old tokens until they are revoked), never the
	// address's, which only counts failed refreshes (a fleet behind one NAT
	// refreshes freely). A 429 makes the agent back off and keep its
	// credentials.
	gate := app.Gate(r)
	if err := gate.ChargeKey(ctx, w, "token:"+ref.ID); err != nil {
		return err
	}
	if err := gate.ChargeKey(ctx, w, "machine:"+id.UID); err != nil {
		return err
	}
	tok, err := h.m.Mint(ctx, id)
	if err != nil {
		return fail(w, "issue the agent token", err)
	}
	if _, err := ref.Update(ctx, []firestore.Update{{Path: "lastUsed", Value: firestore.ServerTimestamp}}); err != nil {
		if store.NotFound(err) { // revoked while we minted
			return errRefreshUnknown
		}
		// The token is minted; failing now would only make the agent retry.
		logging.From(ctx).Warn("refresh token lastUsed not recorded", "error", err.Error())
	}
	secret(w)
	return web.OK(w, web.M{
		"accessToken": tok.IDToken,
		"expiresIn":   agenttoken.ExpiresIn,
		// The reference document's names (DECISIONS §1).
		"idToken":     tok.IDToken,
		"customToken": tok.CustomToken,
	})
}

// checkRefresh runs the spec's checks on the stored token and returns the
// identity to mint for (rebinding a placeholder first).
func (h *handlers) checkRefresh(ctx context.Context, r *http.Request, ref *firestore.DocumentRef, machineID string) (agenttoken.Identity, error) {
	for range conflictRetries {
		snap, err := ref.Get(ctx)
		if store.NotFound(err) {
			return agenttoken.Identity{}, errRefreshUnknown
		}
		if err != nil {
			return agenttoken.Identity{}, err
		}
		data := snap.Data()
		if data["expiresAt"] != nil && expired(data["expiresAt"], h.d.Now(), false) {
			cleanup(r, "deleting an expired refresh token", func(ctx context.Context) error {
				_, err := ref.Delete(ctx, firestore.LastUpdateTime(snap.UpdateTime))
				return err
			})
			return agenttoken.Identity{}, errRefreshExpired
		}
		stored := str(data["machineId"])
		rebind := stored != machineID
		if rebind && !agenttoken.IsPlaceholder(stored) {
			return agenttoken.Identity{}, errRefreshMismatch
		}
		id := agenttoken.Identity{UID: str(data["agentUid"]), SiteID: str(data["siteId"]), MachineID: stored, Version: str(data["version"])}
		if id.SiteID == "" || id.Version == "" || id.UID == "" {
			return agenttoken.Identity{}, errRefreshBroken
		}
		if !rebind {
			return id, nil
		}
		id = agenttoken.NewIdentity(id.SiteID, machineID, id.Version)
		_, err = ref.Update(ctx, []firestore.Update{
			{Path: "machineId", Value: id.MachineID},
			{Path: "agentUid", Value: id.UID},
			{Path: "reboundFrom", Value: stored},
			{Path: "reboundAt", Value: firestore.ServerTimestamp},
		}, firestore.LastUpdateTime(snap.UpdateTime))
		if err == nil {
			logging.From(ctx).Info("placeholder refresh token rebound", "siteId", id.SiteID, "from", stored, "machineId", id.MachineID)
			return id, nil
		}
		if !conflict(err) {
			return agenttoken.Identity{}, err
		}
	}
	return agenttoken.Identity{}, web.Unavailable("Refresh token is busy, please retry", errors.New("refresh: too many conflicting writes"))
}
