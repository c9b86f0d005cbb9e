package session

import (
	"net/http"

	"github.com/owlette/server/shared/web"
)

// status is E03: never 401; reports whether the cookie names a live session.
func (h handlers) status(w http.ResponseWriter, r *http.Request) error {
	p := h.d.Sessions.Read(r)
	if p == nil {
		return anonymous(w)
	}
	rec, err := h.d.Sessions.Load(r.Context(), p)
	if err != nil {
		return web.Internal(err)
	}
	if rec == nil {
		return anonymous(w)
	}
	left := (p.ExpiresAt - h.d.Now().UnixMilli()) / 1000
	body := web.M{"authenticated": true, "userId": p.UserID, "expiresAt": p.ExpiresAt, "expiresIn": max(0, left)}
	if !rec.MFADone() {
		body["mfaPending"] = true
	}
	return web.OK(w, body)
}

func anonymous(w http.ResponseWriter) error {
	return web.OK(w, web.M{"authenticated": false, "userId": nil, "expiresAt": nil})
}

// destroy is E02: revoke the session server-side and clear the cookie.
func (h handlers) destroy(w http.ResponseWriter, r *http.Request) error {
	if p := h.d.Sessions.Read(r); p != nil {
		if err := h.d.Sessions.Revoke(r.Context(), p.SID); err != nil {
			return web.Internal(err)
		}
	}
	h.d.Sessions.Clear(w)
	return web.OK(w, web.M{"success": true, "message": "Session destroyed"})
}
