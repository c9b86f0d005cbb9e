package agentauth

import (
	"context"
	"errors"
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/pairphrase"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

var (
	errPhraseFormat   = web.BadRequest("Invalid pair phrase format: expected three words of the pairing word list joined by \"-\"")
	errPhraseUnknown  = web.NotFound("Pair phrase not found")
	errPhraseExpired  = web.NotFound("Pair phrase has expired")
	errPhraseNotReady = web.Conflict("Pair phrase has already been authorized")
)

type authorizeRequest struct {
	PairPhrase string `json:"pairPhrase"`
	SiteID     string `json:"siteId"`
}

func (q authorizeRequest) Validate() error {
	if err := web.Required("pairPhrase", q.PairPhrase); err != nil {
		return err
	}
	return siteRequest{SiteID: q.SiteID}.Validate()
}

// authorize is X02. Order: body → phrase format → session → site → state.
// Tokens are minted outside any transaction; the device document is then
// updated and the refresh token stored in one batch, conditional on the
// device document being unchanged since it was read pending. A lost race
// therefore writes nothing (its refresh token is never stored) and the
// re-read answers 409/404, so no retry mints twice.
func (h *handlers) authorize(w http.ResponseWriter, r *http.Request) error {
	var req authorizeRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	phrase, ok := pairphrase.Normalize(req.PairPhrase)
	if !ok {
		return errPhraseFormat
	}
	p, err := guard.Site(r, req.SiteID)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ref := h.d.Firestore.Collection(agenttoken.DeviceCodes).Doc(phrase)
	for range conflictRetries {
		snap, err := h.pendingDevice(ctx, r, ref)
		if err != nil {
			return fail(w, "read the pair phrase", err)
		}
		data := snap.Data()
		known := str(data["machineId"])
		machineID := known
		if machineID == "" {
			machineID = agenttoken.Placeholder(phrase)
		}
		id := agenttoken.NewIdentity(req.SiteID, machineID, str(data["version"]))
		tok, err := h.m.Mint(ctx, id)
		if err != nil {
			return fail(w, "issue the agent token", err)
		}
		refresh, refreshRef, err := agenttoken.NewRefreshToken(h.d.Firestore)
		if err != nil {
			return web.Internal(err)
		}
		b := h.d.Firestore.Batch()
		b.Update(ref, []firestore.Update{
			{Path: "status", Value: "authorized"},
			{Path: "siteId", Value: req.SiteID},
			{Path: "authorizedBy", Value: p.UID},
			{Path: "authorizedAt", Value: firestore.ServerTimestamp},
			{Path: "accessToken", Value: tok.IDToken},
			{Path: "refreshToken", Value: refresh},
		}, firestore.LastUpdateTime(snap.UpdateTime))
		b.Create(refreshRef, agenttoken.RefreshData(id, p.UID))
		_, err = b.Commit(ctx)
		if err == nil {
			logging.From(ctx).Info("pair phrase authorized", "siteId", req.SiteID, "machineId", machineID, "by", p.UID)
			return web.OK(w, web.M{"success": true, "machineId": orNil(known)})
		}
		if !conflict(err) {
			return fail(w, "store the authorization", err)
		}
	}
	return fail(w, "authorize the pair phrase", web.Unavailable("Pair phrase is busy, please retry", errors.New("authorize: too many conflicting writes")))
}

// pendingDevice reads a device document that must exist, be unexpired
// (an expired one is deleted) and still be pending.
func (h *handlers) pendingDevice(ctx context.Context, r *http.Request, ref *firestore.DocumentRef) (*firestore.DocumentSnapshot, error) {
	snap, err := ref.Get(ctx)
	if store.NotFound(err) {
		return nil, errPhraseUnknown
	}
	if err != nil {
		return nil, err
	}
	data := snap.Data()
	if expired(data["expiresAt"], h.d.Now(), true) {
		h.dropExpired(r, snap)
		return nil, errPhraseExpired
	}
	if data["status"] != "pending" {
		return nil, errPhraseNotReady
	}
	return snap, nil
}
