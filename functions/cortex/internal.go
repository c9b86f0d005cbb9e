package cortex

import (
	"net/http"

	"github.com/owlette/server/shared/autonomous"
	"github.com/owlette/server/shared/web"
)

// autonomous is E53: the gates and, when accepted, the event, slot and job
// (autonomous.Accept), answered at once: {accepted, eventId, chatId} or
// {accepted:false, reason}. The investigation runs from the job.
func (h *handlers) autonomous(w http.ResponseWriter, r *http.Request) error {
	var req autonomous.Request
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	res, err := autonomous.Accept(r.Context(), h.d, req)
	if err != nil {
		return err
	}
	return web.OK(w, res)
}

// escalations is E55 and E56: the cortexescalation sweep, run now
// (autonomous.Sweep). {success, processed, errors} as the original, plus
// reclaimed (slots of dead investigations given back).
func (h *handlers) escalations(w http.ResponseWriter, r *http.Request) error {
	res, err := autonomous.Sweep(r.Context(), h.d)
	if err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true, "processed": res.Processed, "errors": res.Errors, "reclaimed": res.Reclaimed})
}
