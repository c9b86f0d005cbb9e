package cortex

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/uistream"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/web"
)

// LocalTimeout is how long E52 relays a local Cortex's answer (api.md E52).
const LocalTimeout = 60 * time.Second

// localTimeout is LocalTimeout (tests shorten it).
var localTimeout = LocalTimeout

// Messages of the local path's error lines.
const (
	msgLocalTimeout = "cortex response timed out"
	msgLocalError   = "cortex error"
	// msgLocalReplaced ends a relay whose request another chat overwrote
	// (the machine's Cortex answers one chat at a time).
	msgLocalReplaced = "The machine's cortex was given another chat: ask again"
)

// localChat is E52's local relay path (api.md E52, datamodel.md §2.17):
// the request replaces machines/{m}/cortex/active-chat, then the answer the
// machine's Cortex writes into that document streams back as data-stream
// lines, read with a snapshot listener: `0:` for each growth of
// response.content, `d:` when response.complete, `3:` when status is
// "error" (response.content, or "cortex error"), when the listener fails,
// or after LocalTimeout.
func (h *handlers) localChat(w http.ResponseWriter, r *http.Request, req *chatRequest) error {
	ctx := r.Context()
	name := req.MachineName
	if name == "" {
		name = req.MachineID
	}
	var pending string
	var images []any
	msgs := make([]any, 0, len(req.msgs))
	for _, m := range req.msgs {
		if m.Role != llm.RoleUser && m.Role != llm.RoleAssistant {
			continue
		}
		msgs = append(msgs, map[string]any{"role": string(m.Role), "content": m.TextContent()})
	}
	for i := len(req.msgs) - 1; i >= 0; i-- {
		if m := req.msgs[i]; m.Role == llm.RoleUser {
			pending = m.TextContent()
			for _, p := range m.Content {
				if p.Type == llm.PartImage {
					images = append(images, map[string]any{"url": p.Image, "mediaType": p.MediaType})
				}
			}
			break
		}
	}
	doc := map[string]any{
		"pendingMessage": pending, "chatId": req.ChatID, "machineName": name, "messages": msgs,
		"status": "pending", "response": map[string]any{"content": "", "complete": false, "parts": []any{}},
		"updatedAt": firestore.ServerTimestamp,
	}
	if len(images) > 0 {
		doc["images"] = images
	}
	ref := h.d.Firestore.Collection("sites").Doc(req.SiteID).Collection("machines").Doc(req.MachineID).
		Collection("cortex").Doc("active-chat")
	if _, err := ref.Set(ctx, doc); err != nil {
		return web.Internal(err) // a document over 1 MiB is a 400 (web.AsError)
	}

	lctx, cancel := context.WithTimeout(ctx, localTimeout)
	defer cancel()
	it := ref.Snapshots(lctx)
	defer it.Stop()
	ds := uistream.NewDataStreamResponse(w)
	sent := ""
	for {
		snap, err := it.Next()
		if err != nil {
			switch {
			case ctx.Err() != nil: // the browser went away
			case lctx.Err() != nil:
				ds.Error(msgLocalTimeout)
			default:
				logging.From(ctx).Warn("local cortex listener failed", "error", err.Error())
				ds.Error(listenerMessage(err))
			}
			return nil
		}
		if !snap.Exists() {
			continue
		}
		d := snap.Data()
		if id, _ := d["chatId"].(string); id != req.ChatID {
			// Another chat replaced this one on the machine: what follows
			// is not this chat's answer.
			ds.Error(msgLocalReplaced)
			return nil
		}
		resp, _ := d["response"].(map[string]any)
		content, _ := resp["content"].(string)
		// The Cortex writes the whole text so far; the browser gets what is
		// new. A rewrite that does not extend what was sent cannot be taken
		// back: the complete text is what the Cortex settles on.
		if len(content) > len(sent) && strings.HasPrefix(content, sent) {
			if ds.Text(content[len(sent):]) != nil {
				return nil
			}
			sent = content
		}
		if d["status"] == "error" {
			if content == "" {
				content = msgLocalError
			}
			ds.Error(content)
			return nil
		}
		if c, _ := resp["complete"].(bool); c {
			ds.Finish()
			return nil
		}
	}
}

// listenerMessage is the text of a listener failure for the browser.
func listenerMessage(err error) string {
	var we *web.Error
	if errors.As(err, &we) {
		return we.Message
	}
	return err.Error()
}
