package agentauth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

var (
	errCodeUnknown = web.Unauthorized("Invalid registration code")
	errCodeUsed    = web.Unauthorized("Registration code has already been used")
	errCodeExpired = web.Unauthorized("Registration code has expired")
	errCodeBroken  = web.Unauthorized("Invalid registration code data")
)

type exchangeRequest struct {
	RegistrationCode string `json:"registrationCode"`
	MachineID        string `json:"machineId"`
	Version          string `json:"version"`
}

func (q exchangeRequest) Validate() error {
	if err := web.Required("registrationCode", q.RegistrationCode); err != nil {
		return err
	}
	if err := web.Required("machineId", q.MachineID); err != nil {
		return err
	}
	if err := web.Required("version", q.Version); err != nil {
		return err
	}
	return checkMachine("machineId", q.MachineID, q.Version)
}

// exchange is E14: a registration code is redeemed at most once, even under
// concurrent requests (DECISIONS 5.8). The code is consumed first with a
// conditional write (only if unchanged since it was read unused), then the
// tokens are minted outside any transaction. Should minting or storing the
// refresh token fail after that, the consumption is undone (conditionally,
// so only our own) and the agent may retry with the same code: nothing was
// delivered, so nothing is lost by letting it try again.
func (h *handlers) exchange(w http.ResponseWriter, r *http.Request) error {
	var req exchangeRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if !store.ValidID(req.RegistrationCode) {
		return errCodeUnknown
	}
	ctx := r.Context()
	ref := h.d.Firestore.Collection(agenttoken.RegistrationCodes).Doc(req.RegistrationCode)
	siteID, createdBy, consumedAt, err := h.redeem(ctx, ref, req.MachineID)
	if err != nil {
		return fail(w, "redeem the registration code", err)
	}
	undo := func() {
		cleanup(r, "releasing a registration code after a failed exchange", func(ctx context.Context) error {
			_, err := ref.Update(ctx, []firestore.Update{
				{Path: "used", Value: false}, {Path: "usedAt", Value: firestore.Delete},
				{Path: "machineId", Value: firestore.Delete}, {Path: "agentUid", Value: firestore.Delete},
			}, firestore.LastUpdateTime(consumedAt))
			return err
		})
	}
	id := agenttoken.NewIdentity(siteID, req.MachineID, req.Version)
	tok, err := h.m.Mint(ctx, id)
	if err != nil {
		undo()
		return fail(w, "issue the agent token", err)
	}
	refresh, refreshRef, err := agenttoken.NewRefreshToken(h.d.Firestore)
	if err == nil {
		_, err = refreshRef.Create(ctx, agenttoken.RefreshData(id, createdBy))
	}
	if err != nil {
		undo()
		return fail(w, "store the refresh token", err)
	}
	logging.From(ctx).Info("registration code redeemed", "siteId", siteID, "machineId", req.MachineID, "agentUid", id.UID)
	secret(w)
	return web.OK(w, web.M{
		"accessToken":  tok.IDToken,
		"refreshToken": refresh,
		"expiresIn":    agenttoken.ExpiresIn,
		"siteId":       siteID,
		// The reference document's names (DECISIONS §1).
		"idToken":     tok.IDToken,
		"customToken": tok.CustomToken,
	})
}

// redeem checks the code and marks it used, conditionally on the document
// being unchanged since it was read; a lost race re-reads and then sees the
// code used. It returns the code's site and creator and the time of the
// consuming write.
func (h *handlers) redeem(ctx context.Context, ref *firestore.DocumentRef, machineID string) (siteID, createdBy string, consumedAt time.Time, err error) {
	for range conflictRetries {
		snap, err := ref.Get(ctx)
		if store.NotFound(err) {
			return "", "", time.Time{}, errCodeUnknown
		}
		if err != nil {
			return "", "", time.Time{}, err
		}
		data := snap.Data()
		switch {
		case store.Truthy(data["used"]):
			return "", "", time.Time{}, errCodeUsed
		case expired(data["expiresAt"], h.d.Now(), true):
			return "", "", time.Time{}, errCodeExpired
		}
		siteID, createdBy = str(data["siteId"]), str(data["createdBy"])
		if siteID == "" || createdBy == "" {
			return "", "", time.Time{}, errCodeBroken
		}
		wr, err := ref.Update(ctx, []firestore.Update{
			{Path: "used", Value: true},
			{Path: "usedAt", Value: firestore.ServerTimestamp},
			{Path: "machineId", Value: machineID},
			{Path: "agentUid", Value: agenttoken.UID(siteID, machineID)},
		}, firestore.LastUpdateTime(snap.UpdateTime))
		if err == nil {
			return siteID, createdBy, wr.UpdateTime, nil
		}
		if !conflict(err) {
			return "", "", time.Time{}, err
		}
	}
	return "", "", time.Time{}, web.Unavailable("Registration code is busy, please retry", errors.New("redeem: too many conflicting writes"))
}

// conflict reports a failed precondition: the document changed (or went)
// since it was read.
func conflict(err error) bool {
	c := status.Code(err)
	return c == codes.FailedPrecondition || c == codes.NotFound || c == codes.Aborted
}
