package resendfake

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// maxBody is Resend's request size limit (40 MB, attachments included).
const maxBody = 40 << 20

// maxBatch is Resend's limit of e-mails per batch request.
const maxBatch = 100

// authorized answers 401 unless the request carries an accepted Bearer key.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		writeError(w, http.StatusUnauthorized, "missing_api_key", msgMissingKey)
		return false
	}
	if s.apiKey != "" && key != s.apiKey {
		writeError(w, http.StatusUnauthorized, "validation_error", msgInvalidKey)
		return false
	}
	return true
}

// prelude runs what every send request goes through first: auth, an
// injected failure, the body and the idempotency key. ok is false when
// the answer is written.
func (s *Server) prelude(w http.ResponseWriter, r *http.Request) (body []byte, idemKey string, ok bool) {
	if !s.authorized(w, r) {
		return nil, "", false
	}
	if status, fail := s.takeFailure(); fail {
		if status == 0 {
			dropConnection(w)
			return nil, "", false
		}
		injected(w, status)
		return nil, "", false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "validation_error", "Request body is too large.")
		} else {
			writeError(w, http.StatusBadRequest, "validation_error", "Could not read the request body.")
		}
		return nil, "", false
	}
	_, present := r.Header["Idempotency-Key"]
	idemKey = r.Header.Get("Idempotency-Key")
	if present && (idemKey == "" || len(idemKey) > 256) {
		writeError(w, http.StatusBadRequest, "invalid_idempotency_key", msgIdemKey)
		return nil, "", false
	}
	return body, idemKey, true
}

// replay answers a repeated idempotency key; s.mu must be held. done is
// true when the answer is written.
func (s *Server) replay(w http.ResponseWriter, scope, key string, body []byte) (done bool) {
	if key == "" {
		return false
	}
	e, ok := s.idem[scope+"\x00"+key]
	if !ok {
		return false
	}
	if e.hash != sha256.Sum256(body) {
		writeError(w, http.StatusConflict, "invalid_idempotent_request", msgIdemReuse)
		return true
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(e.body)
	return true
}

// remember stores the answer of a first idempotent request and writes it;
// s.mu must be held.
func (s *Server) remember(w http.ResponseWriter, scope, key string, body []byte, resp any) {
	out, _ := json.Marshal(resp)
	out = append(out, '\n')
	if key != "" {
		s.idem[scope+"\x00"+key] = idemEntry{hash: sha256.Sum256(body), body: out}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(out)
}

type idResponse struct {
	ID string `json:"id"`
}

// send is POST /emails.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	body, key, ok := s.prelude(w, r)
	if !ok {
		return
	}
	// One lock over check, store and remember: a concurrent repeat of the
	// same key waits and then gets the same answer.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replay(w, "emails", key, body) {
		return
	}
	m, apiErr := parseEmail(body)
	if apiErr != nil {
		writeJSON(w, apiErr.StatusCode, apiErr)
		return
	}
	m.ID, m.IdempotencyKey, m.CreatedAt = uuid.NewString(), key, s.now()
	s.store(m)
	s.remember(w, "emails", key, body, idResponse{ID: m.ID})
}

type batchError struct {
	Index   int    `json:"index"`
	Message string `json:"message"`
}

type batchResponse struct {
	Data   []idResponse `json:"data"`
	Errors []batchError `json:"errors,omitempty"`
}

// batch is POST /emails/batch: an array of e-mails; with
// x-batch-validation "strict" (default) one invalid e-mail fails the lot,
// with "permissive" the valid ones go and the others are listed.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	body, key, ok := s.prelude(w, r)
	if !ok {
		return
	}
	mode := r.Header.Get("x-batch-validation")
	if mode == "" {
		mode = "strict"
	}
	if mode != "strict" && mode != "permissive" {
		writeError(w, http.StatusUnprocessableEntity, "validation_error", "Invalid `x-batch-validation` header. Must be `strict` or `permissive`.")
		return
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "validation_error", "Invalid JSON body: expected an array of emails.")
		return
	}
	if len(items) == 0 || len(items) > maxBatch {
		writeError(w, http.StatusUnprocessableEntity, "validation_error", "A batch must contain between 1 and 100 emails.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replay(w, "batch", key, body) {
		return
	}
	var good []Message
	resp := batchResponse{Data: []idResponse{}}
	for i, raw := range items {
		m, apiErr := parseEmail(raw)
		if apiErr == nil {
			good = append(good, m)
			continue
		}
		if mode == "strict" {
			writeError(w, apiErr.StatusCode, apiErr.Name, "emails["+strconv.Itoa(i)+"]: "+apiErr.Message)
			return
		}
		resp.Errors = append(resp.Errors, batchError{Index: i, Message: apiErr.Message})
	}
	now := s.now()
	for _, m := range good {
		m.ID, m.IdempotencyKey, m.CreatedAt = uuid.NewString(), key, now
		s.store(m)
		resp.Data = append(resp.Data, idResponse{ID: m.ID})
	}
	s.remember(w, "batch", key, body, resp)
}

// dropConnection ends the exchange without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	// Not hijackable (e.g. a recorder): abort the handler; net/http
	// closes the connection.
	panic(http.ErrAbortHandler)
}

// emailSummary is an e-mail in GET /emails; emailObject adds the bodies
// for GET /emails/{id}. Absent values are null, as Resend sends them.
type emailSummary struct {
	Object      string   `json:"object,omitempty"`
	ID          string   `json:"id"`
	To          []string `json:"to"`
	From        string   `json:"from"`
	CreatedAt   string   `json:"created_at"`
	Subject     string   `json:"subject"`
	BCC         []string `json:"bcc"`
	CC          []string `json:"cc"`
	ReplyTo     []string `json:"reply_to"`
	LastEvent   string   `json:"last_event"`
	ScheduledAt *string  `json:"scheduled_at"`
}

type emailObject struct {
	emailSummary
	HTML *string `json:"html"`
	Text *string `json:"text"`
	Tags []Tag   `json:"tags,omitempty"`
}

// createdAtLayout is Resend's created_at ("2023-04-03 22:13:42.674981+00").
const createdAtLayout = "2006-01-02 15:04:05.000000+00"

func summary(m Message) emailSummary {
	return emailSummary{
		ID: m.ID, To: m.To, From: m.From, CreatedAt: m.CreatedAt.UTC().Format(createdAtLayout), Subject: m.Subject,
		BCC: m.BCC, CC: m.CC, ReplyTo: m.ReplyTo, LastEvent: "delivered", ScheduledAt: nullable(m.ScheduledAt),
	}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// get is GET /emails/{id}.
func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	m, ok := s.find(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Email not found")
		return
	}
	o := emailObject{emailSummary: summary(m), HTML: nullable(m.HTML), Text: nullable(m.Text), Tags: m.Tags}
	o.Object = "email"
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) find(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.byID[id]
	if !ok {
		return Message{}, false
	}
	return s.msgs[i].clone(), true
}

type listResponse struct {
	Object  string         `json:"object"`
	HasMore bool           `json:"has_more"`
	Data    []emailSummary `json:"data"`
}

// list is GET /emails: newest first, Resend's limit (1–100, default 20)
// and after cursor (an id of the previous page).
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusUnprocessableEntity, "validation_error", "The `limit` parameter must be an integer between 1 and 100.")
			return
		}
		limit = n
	}
	newest := s.newestFirst()
	if after := r.URL.Query().Get("after"); after != "" {
		i := indexOf(newest, after)
		if i < 0 {
			writeError(w, http.StatusUnprocessableEntity, "validation_error", "The `after` parameter must be the id of an email.")
			return
		}
		newest = newest[i+1:]
	}
	resp := listResponse{Object: "list", Data: []emailSummary{}}
	for i, m := range newest {
		if i == limit {
			resp.HasMore = true
			break
		}
		resp.Data = append(resp.Data, summary(m))
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) newestFirst() []Message {
	msgs := s.Messages()
	slices.Reverse(msgs)
	return msgs
}

func indexOf(msgs []Message, id string) int {
	for i, m := range msgs {
		if m.ID == id {
			return i
		}
	}
	return -1
}
