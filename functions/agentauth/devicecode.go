package agentauth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

type deviceCodeRequest struct {
	MachineID *string `json:"machineId"`
	Version   *string `json:"version"`
}

// deviceCode is X01: an agent (or the dashboard, with {}, for /ADD=) starts
// pairing. The body must be a JSON object; machineId and version are
// optional strings. A phrase is created only if absent (a collision draws
// again, PhraseDraws phrases at most); the device code is stored only as its
// SHA-256.
func (h *handlers) deviceCode(w http.ResponseWriter, r *http.Request) error {
	var req *deviceCodeRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if req == nil {
		return web.BadRequest("Request body must be a JSON object, not null")
	}
	machineID, version := deref(req.MachineID), deref(req.Version)
	if err := checkMachine("machineId", machineID, version); err != nil {
		return err
	}
	code, err := agenttoken.NewSecret()
	if err != nil {
		return web.Internal(err)
	}
	data := map[string]any{
		"deviceCodeHash": agenttoken.Hash(code),
		"machineId":      orNil(machineID),
		"version":        orNil(version),
		"status":         "pending",
		"createdAt":      firestore.ServerTimestamp,
		"expiresAt":      h.d.Now().Add(DeviceCodeTTL),
		"siteId":         nil,
		"authorizedBy":   nil,
		"authorizedAt":   nil,
		"accessToken":    nil,
		"refreshToken":   nil,
	}
	coll := h.d.Firestore.Collection(agenttoken.DeviceCodes)
	for range PhraseDraws {
		phrase, err := h.phrase()
		if err != nil {
			return web.Internal(err)
		}
		_, err = coll.Doc(phrase).Create(r.Context(), data)
		if store.AlreadyExists(err) {
			continue
		}
		if err != nil {
			return fail(w, "store the device code", err)
		}
		base := publicBase(r)
		secret(w)
		return web.OK(w, web.M{
			"pairPhrase":      phrase,
			"deviceCode":      code,
			"verificationUri": base + "/add",
			"pairingUrl":      base + "/add?code=" + url.QueryEscape(phrase),
			"expiresIn":       int(DeviceCodeTTL.Seconds()),
			"interval":        PollInterval,
		})
	}
	return fail(w, "allocate a pair phrase", web.Unavailable("Could not allocate a pair phrase, please retry", errors.New("every drawn pair phrase was taken")))
}

// publicBase is the origin the user opens: http for localhost, else https,
// of the host the request was addressed to (Firebase Hosting forwards the
// original host in X-Forwarded-Host); owlette.app when there is none.
func publicBase(r *http.Request) string {
	host, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ",")
	host = strings.TrimSpace(host)
	if host == "" {
		host = r.Host
	}
	if host == "" {
		return "https://owlette.app"
	}
	if strings.Contains(host, "localhost") {
		return "http://" + host
	}
	return "https://" + host
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}
