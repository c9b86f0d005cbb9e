package cortex

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// SiteMode is the machineId that selects site-wide chat.
const SiteMode = "__site__"

// Limits of a chat request. The conversation comes whole with every
// message, images as URLs or data URLs, so the body may be large; the
// messages field is decoded by the handler (json.RawMessage: the 8 KiB cap
// of ordinary string fields does not apply to it, the body cap does).
const (
	MaxChatBody = 8 << 20
	MaxMessages = 500
)

// LocalCortexFresh is how recent a local Cortex heartbeat must be for the
// chat to be relayed to it (api.md E52).
const LocalCortexFresh = 30 * time.Second

var (
	ErrMachineOffline = web.Errorf(http.StatusServiceUnavailable, "Machine is offline")
	ErrNoneOnline     = web.Errorf(http.StatusServiceUnavailable, "No machines online")
)

type chatRequest struct {
	Messages    []json.RawMessage `json:"messages"`
	SiteID      string            `json:"siteId"`
	ChatID      string            `json:"chatId"`
	MachineID   string            `json:"machineId"`
	MachineName string            `json:"machineName"`

	msgs []llm.Message
}

// Validate is E52's body check: messages (a non-empty array of AI SDK
// model messages), siteId, chatId, and machineId (a machine id, or
// SiteMode). Messages the client marks "system" are dropped: the system
// prompt is the server's.
func (q *chatRequest) Validate() error {
	if q.Messages == nil {
		return web.BadRequest("Missing required field: messages")
	}
	if len(q.Messages) == 0 {
		return web.BadRequest("messages must contain at least one message")
	}
	if len(q.Messages) > MaxMessages {
		return web.Errorf(http.StatusBadRequest, "messages may hold at most %d messages", MaxMessages)
	}
	for i, raw := range q.Messages {
		var m llm.Message
		if err := json.Unmarshal(raw, &m); err != nil {
			return web.Errorf(http.StatusBadRequest, "messages[%d] is not a valid message: %s", i, strings.TrimPrefix(err.Error(), "llm: "))
		}
		if m.Role != llm.RoleSystem {
			q.msgs = append(q.msgs, m)
		}
	}
	if len(q.msgs) == 0 {
		return web.BadRequest("messages must contain a user message")
	}
	for _, f := range []struct{ name, v string }{{"siteId", q.SiteID}, {"chatId", q.ChatID}, {"machineId", q.MachineID}} {
		if err := web.Required(f.name, f.v); err != nil {
			return err
		}
	}
	if q.MachineID != SiteMode && !store.ValidID(q.MachineID) {
		return web.BadRequest("machineId is not a valid machine id")
	}
	return nil
}

// chat is E52. Order: session (guard) → body → site access → mode (503s)
// → LLM configuration; everything up to here is answered in JSON, then the
// answer streams.
func (h *handlers) chat(w http.ResponseWriter, r *http.Request) error {
	var req chatRequest
	if err := web.DecodeLimit(w, r, &req, MaxChatBody); err != nil {
		return err
	}
	ctx := r.Context()
	site, err := h.access(ctx, r, req.SiteID)
	if err != nil {
		return err
	}
	if req.MachineID == SiteMode {
		return h.siteChat(w, r, &req, site)
	}
	fs := h.d.Firestore
	machineRef := fs.Collection("sites").Doc(req.SiteID).Collection("machines").Doc(req.MachineID)
	configRef := fs.Collection("config").Doc(req.SiteID).Collection("machines").Doc(req.MachineID)
	snaps, err := fs.GetAll(ctx, []*firestore.DocumentRef{machineRef, configRef})
	if err != nil {
		return web.Internal(err)
	}
	machine := data(snaps[0])
	if !store.Truthy(machine["online"]) {
		return ErrMachineOffline
	}
	if localCortexLive(machine, h.d.Now()) {
		return h.localChat(w, r, &req)
	}
	return h.machineChat(w, r, &req, site, data(snaps[1]))
}

// localCortexLive: the machine's own Cortex reports online with a heartbeat
// younger than LocalCortexFresh.
func localCortexLive(machine map[string]any, now time.Time) bool {
	cs, _ := machine["cortexStatus"].(map[string]any)
	if on, _ := cs["online"].(bool); !on {
		return false
	}
	ms, ok := store.Millis(cs["lastHeartbeat"])
	return ok && now.UnixMilli()-ms < LocalCortexFresh.Milliseconds()
}

// llmConfig resolves the caller's LLM configuration (user mode: their key,
// else the site's). What is wrong with it is explained, as the original
// does, in a 500.
func (h *handlers) llmConfig(r *http.Request, siteID string) (llmconfig.Resolved, error) {
	p := callerUID(r)
	res, err := llmconfig.Resolve(r.Context(), h.d.Firestore, h.d.Config, llmconfig.ModeUser, p, siteID)
	var ce *llmconfig.Error
	if errors.As(err, &ce) {
		return res, &web.Error{Status: http.StatusInternalServerError, Message: ce.Error(), Cause: err}
	}
	if err != nil {
		return res, web.Internal(err)
	}
	return res, nil
}
