package cortex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Categories are X11's chat categories; anything else the model answers is
// General.
var Categories = []string{"Performance", "Crashes", "Network", "Display", "Processes", "System Info", "Configuration", "General"}

// X11 limits.
const (
	// MaxBatch bounds chatIds (each costs a model call).
	MaxBatch = 50
	// batchChunk chats are categorised at once, as the original does.
	batchChunk = 5
	// MaxTitle is the longest title kept; a missing one falls back to the
	// message's first fallbackTitle characters.
	MaxTitle      = 80
	fallbackTitle = 100
	// maxPrompt bounds the message text sent to the model.
	maxPrompt = 4000
	// CategorizeDeadline leaves room for MaxBatch/batchChunk rounds of
	// model calls.
	CategorizeDeadline = 240 * time.Second
)

// ErrCategorize is X11's answer when the model cannot be asked.
var ErrCategorize = &web.Error{Status: http.StatusInternalServerError, Message: "Categorization failed"}

type categorizeRequest struct {
	SiteID  string   `json:"siteId"`
	ChatIDs []string `json:"chatIds"`
	ChatID  string   `json:"chatId"`
	Message string   `json:"message" max:"65536"`
}

// Validate: siteId, and chatIds (batch) or chatId with message (single).
func (q *categorizeRequest) Validate() error {
	if err := web.Required("siteId", q.SiteID); err != nil {
		return err
	}
	if q.ChatIDs != nil {
		if len(q.ChatIDs) > MaxBatch {
			return web.Errorf(http.StatusBadRequest, "chatIds may name at most %d chats", MaxBatch)
		}
		return nil
	}
	if q.ChatID == "" || strings.TrimSpace(q.Message) == "" {
		return web.BadRequest("Provide chatIds (batch), or chatId and message")
	}
	return nil
}

// categorize is X11. Order: session (guard) → body → site access
// (DECISIONS §2 5.6) → LLM configuration (the caller's, cheap model).
//
// Single (chatId + message): a title (≤ 80 characters; else the message's
// first 100) and a category for the chat, stored on chats/{chatId} and
// returned. Batch (chatIds, chunks of 5 in parallel): a chat without a
// title (or titled "New conversation") gets title and category from its
// first user message (inline messages, else the legacy messages
// subcollection), others a category from their title; per-chat failures
// are skipped. A chat must be the caller's own, or an autonomous chat of
// the site: others are "not found" (the original checked nothing).
func (h *handlers) categorize(w http.ResponseWriter, r *http.Request) error {
	var req categorizeRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := h.access(ctx, r, req.SiteID); err != nil {
		return err
	}
	uid := callerUID(r)
	if req.ChatIDs == nil && !store.ValidID(req.ChatID) {
		return web.NotFound("Chat not found")
	}
	var chat *firestore.DocumentSnapshot
	if req.ChatIDs == nil {
		snap, err := h.chatRef(req.ChatID).Get(ctx)
		if err != nil && !store.NotFound(err) {
			return web.Internal(err)
		}
		if !chatAllowed(snap, uid, req.SiteID) {
			return web.NotFound("Chat not found")
		}
		chat = snap
	}
	cfg, err := llmconfig.Resolve(ctx, h.d.Firestore, h.d.Config, llmconfig.ModeUser, uid, req.SiteID)
	var ce *llmconfig.Error
	if errors.As(err, &ce) {
		return ErrCategorize.With("details", ce.Error()).Wrap(err)
	}
	if err != nil {
		return web.Internal(err)
	}
	cfg = cfg.Cheap()

	if chat != nil {
		title, category, err := h.titleAndCategory(ctx, cfg, req.Message)
		if err != nil {
			return ErrCategorize.Wrap(err)
		}
		if _, err := chat.Ref.Update(ctx, []firestore.Update{{Path: "title", Value: title}, {Path: "category", Value: category}}); err != nil {
			if store.NotFound(err) {
				return web.NotFound("Chat not found")
			}
			return web.Internal(err)
		}
		return web.OK(w, web.M{"title": title, "category": category})
	}

	results := map[string]string{}
	var mu sync.Mutex
	ids := dedupe(req.ChatIDs)
	for i := 0; i < len(ids); i += batchChunk {
		var wg sync.WaitGroup
		for _, id := range ids[i:min(i+batchChunk, len(ids))] {
			wg.Go(func() {
				cat, err := h.categorizeOne(ctx, cfg, uid, req.SiteID, id)
				if err != nil {
					logging.From(ctx).Info("chat not categorised", "chatId", id, "error", err.Error())
					return
				}
				if cat != "" {
					mu.Lock()
					results[id] = cat
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			break
		}
	}
	return web.OK(w, web.M{"results": results})
}

func (h *handlers) chatRef(id string) *firestore.DocumentRef {
	return h.d.Firestore.Collection("chats").Doc(id)
}

// chatAllowed: the chat exists and is the caller's, or an autonomous chat
// of the site.
func chatAllowed(snap *firestore.DocumentSnapshot, uid, siteID string) bool {
	d := data(snap)
	if d == nil {
		return false
	}
	if owner, _ := d["userId"].(string); owner != "" && owner == uid {
		return true
	}
	return d["source"] == "autonomous" && d["siteId"] == siteID
}

// categorizeOne is one chat of a batch; "" means skipped.
func (h *handlers) categorizeOne(ctx context.Context, cfg llmconfig.Resolved, uid, siteID, id string) (string, error) {
	if !store.ValidID(id) {
		return "", nil
	}
	snap, err := h.chatRef(id).Get(ctx)
	if err != nil && !store.NotFound(err) {
		return "", err
	}
	if !chatAllowed(snap, uid, siteID) {
		return "", nil
	}
	d := snap.Data()
	title, _ := d["title"].(string)
	if t := strings.TrimSpace(title); t == "" || strings.EqualFold(t, "new conversation") {
		msg, err := h.firstUserMessage(ctx, snap)
		if err != nil || msg == "" {
			return "", err
		}
		title, category, err := h.titleAndCategory(ctx, cfg, msg)
		if err != nil {
			return "", err
		}
		_, err = snap.Ref.Update(ctx, []firestore.Update{{Path: "title", Value: title}, {Path: "category", Value: category}})
		return category, err
	}
	text, err := h.ask(ctx, cfg, categorySystem, cut(title, maxPrompt))
	if err != nil {
		return "", err
	}
	category := matchCategory(text)
	if _, c := parseTitled(text); category == "General" && c != "" {
		category = matchCategory(c) // a model that answered in JSON anyway
	}
	_, err = snap.Ref.Update(ctx, []firestore.Update{{Path: "category", Value: category}})
	return category, err
}

// firstUserMessage is the text of a chat's first user message: from its
// inline messages (UI messages with parts, or content), else the legacy
// messages subcollection (role == "user", oldest first).
func (h *handlers) firstUserMessage(ctx context.Context, chat *firestore.DocumentSnapshot) (string, error) {
	if msgs, ok := chat.Data()["messages"].([]any); ok {
		for _, m := range msgs {
			mm, _ := m.(map[string]any)
			if mm["role"] == "user" {
				if t := messageText(mm); t != "" {
					return t, nil
				}
			}
		}
	}
	snaps, err := chat.Ref.Collection("messages").Where("role", "==", "user").OrderBy("createdAt", firestore.Asc).Limit(1).Documents(ctx).GetAll()
	if err != nil || len(snaps) == 0 {
		return "", err
	}
	return messageText(snaps[0].Data()), nil
}

// messageText is a stored message's text: content when a string, else its
// text parts.
func messageText(m map[string]any) string {
	if s, ok := m["content"].(string); ok {
		return s
	}
	var b strings.Builder
	for _, key := range []string{"parts", "content"} {
		parts, _ := m[key].([]any)
		for _, p := range parts {
			pm, _ := p.(map[string]any)
			if pm["type"] == "text" {
				t, _ := pm["text"].(string)
				b.WriteString(t)
			}
		}
		if b.Len() > 0 {
			break
		}
	}
	return b.String()
}

var categoryList = strings.Join(Categories, ", ")

var (
	titleSystem    = fmt.Sprintf(`You file conversations between operators and an assistant that manages Windows machines running media installations. Given the operator's first message, answer with JSON only, no other text: {"title": "<a short title, at most %d characters>", "category": "<exactly one of: %s>"}`, MaxTitle, categoryList)
	categorySystem = fmt.Sprintf(`You file conversations between operators and an assistant that manages Windows machines running media installations. Given a conversation's title, answer with exactly one category name and nothing else, one of: %s`, categoryList)
)

// titleAndCategory asks the cheap model for a message's title and
// category; an answer that cannot be read keeps the fallback title and
// General.
func (h *handlers) titleAndCategory(ctx context.Context, cfg llmconfig.Resolved, message string) (string, string, error) {
	text, err := h.ask(ctx, cfg, titleSystem, cut(message, maxPrompt))
	if err != nil {
		return "", "", err
	}
	title, category := parseTitled(text)
	title = strings.Join(strings.Fields(strings.Trim(strings.TrimSpace(title), `"'`)), " ")
	if title == "" {
		title = cut(strings.Join(strings.Fields(message), " "), fallbackTitle)
	}
	return cut(title, MaxTitle), matchCategory(category), nil
}

// parseTitled reads {"title","category"} from a model's answer, wherever
// the object sits in it; empty strings when there is none.
func parseTitled(text string) (title, category string) {
	var v struct {
		Title    string `json:"title"`
		Category string `json:"category"`
	}
	if i, j := strings.Index(text, "{"), strings.LastIndex(text, "}"); i >= 0 && j > i {
		_ = json.Unmarshal([]byte(text[i:j+1]), &v)
	}
	return v.Title, v.Category
}

// ask makes one call to the cheap model, without tools.
func (h *handlers) ask(ctx context.Context, cfg llmconfig.Resolved, system, user string) (string, error) {
	c := cfg.Config(h.d.Config, h.client)
	c.MaxTokens = 200
	p, err := llm.New(c)
	if err != nil {
		return "", err
	}
	res, err := llm.Run(ctx, llm.RunConfig{Provider: p, System: system, Messages: []llm.Message{llm.UserText(user)}, MaxSteps: 1, Now: h.d.Now})
	if err != nil {
		return "", err
	}
	return res.Text, nil
}

// matchCategory maps a model's answer onto Categories (case and
// surrounding punctuation ignored); anything else is General.
func matchCategory(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "\"'.` \n")
	for _, c := range Categories {
		if strings.EqualFold(s, c) {
			return c
		}
	}
	return "General"
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
