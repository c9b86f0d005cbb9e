package trigger

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// BridgePrefix is where the Firestore emulator started with
// --functions_emulator=HOST:PORT delivers events:
// POST http://HOST:PORT/functions/projects/<project>/triggers/<trigger id>.
const BridgePrefix = "/functions/"

// maxEventBody bounds a delivery: two 1 MiB documents, base64-encoded.
const maxEventBody = 8 << 20

// Bridge is the LOCAL-ONLY endpoint the Firestore emulator delivers change
// events to. It fixes the two ways the emulator's binary-mode CloudEvent
// differs from what Eventarc sends, which make the CloudEvents SDK (and so
// functions-framework-go) reject it:
//
//  1. it sends the data content type twice, as Content-Type and as a
//     ce-datacontenttype header ("attribute MUST NOT be overwritten");
//  2. the protobuf body is base64 text instead of raw bytes;
//
// then calls the CloudEvent function registered under the trigger id (the
// eventarcTriggerId it was registered with, see RegisterOnEmulator). Answers:
// 204 handled, 500 the function failed, 404 unknown trigger or project, 400
// not a CloudEvent.
type Bridge struct {
	// Project, when set, is the only project whose deliveries are accepted.
	Project string
	// Functions maps trigger ids to functions.
	Functions map[string]CloudEventFunc
	// Log receives one line per delivery (nil: slog.Default()).
	Log *slog.Logger
	// Observe, when set, is called after each handled delivery.
	Observe func(Delivery)
}

// Delivery describes one delivery the bridge handled.
type Delivery struct {
	Project, Trigger, EventID, Document string
	Err                                 error
	Took                                time.Duration // the function's run time
}

// ParseBridgePath splits /functions/projects/<project>/triggers/<id>.
func ParseBridgePath(p string) (project, id string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, BridgePrefix), "/")
	if !strings.HasPrefix(p, BridgePrefix) || len(parts) != 4 || parts[0] != "projects" || parts[2] != "triggers" || parts[1] == "" || parts[3] == "" {
		return "", "", false
	}
	return parts[1], parts[3], true
}

func (b *Bridge) log() *slog.Logger {
	if b.Log != nil {
		return b.Log
	}
	return slog.Default()
}

func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	project, id, ok := ParseBridgePath(r.URL.Path)
	if !ok {
		bridgeError(w, http.StatusNotFound, "not a trigger delivery path")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		bridgeError(w, http.StatusMethodNotAllowed, "deliveries are POSTed")
		return
	}
	fn := b.Functions[id]
	if fn == nil || (b.Project != "" && project != b.Project) {
		b.log().Warn("trigger delivery for an unknown trigger or project", "project", project, "trigger", id)
		bridgeError(w, http.StatusNotFound, "no trigger "+id+" for project "+project)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEventBody+1))
	if err != nil || len(body) > maxEventBody {
		bridgeError(w, http.StatusBadRequest, "unreadable or oversized event body")
		return
	}
	req := FixEmulatorRequest(r, body)
	ev, err := cehttp.NewEventFromHTTPRequest(req)
	if err != nil {
		b.log().Error("trigger delivery is not a CloudEvent", "project", project, "trigger", id, "error", err.Error())
		bridgeError(w, http.StatusBadRequest, "not a CloudEvent: "+err.Error())
		return
	}
	start := time.Now()
	err = fn(r.Context(), *ev)
	d := Delivery{Project: project, Trigger: id, EventID: ev.ID(), Err: err, Took: time.Since(start)}
	if doc, ok := ev.Extensions()["document"].(string); ok {
		d.Document = doc
	}
	if b.Observe != nil {
		b.Observe(d)
	}
	if err != nil {
		bridgeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// FixEmulatorRequest returns a copy of the emulator's request with body that
// the CloudEvents SDK accepts: in binary mode (a Content-Type is present) the
// duplicate ce-datacontenttype header goes, and a base64 protobuf body is
// decoded to the raw bytes production sends.
func FixEmulatorRequest(r *http.Request, body []byte) *http.Request {
	req := r.Clone(r.Context())
	ct := req.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/cloudevents") {
		req.Header.Del("Ce-Datacontenttype")
	}
	if mt, _, _ := mime.ParseMediaType(ct); mt == "application/protobuf" || mt == "application/x-protobuf" {
		if raw, ok := Base64Body(body); ok {
			body = raw
		}
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Del("Content-Length")
	return req
}

func bridgeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// errEmulator is returned when the emulator refuses a registration.
var errEmulator = errors.New("firestore emulator refused the trigger registration")
