package web

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/owlette/server/shared/store"
)

// Limits on what a request may carry before any handler or Firestore call
// sees it (DECISIONS §3 "Input never reaches Firestore unchecked"). Firestore
// refuses invalid UTF-8 (its Go client even retries such a query until the
// deadline), document ids over 1,500 bytes and documents over 1 MiB.
const (
	// MaxIDBytes is Firestore's document id limit.
	MaxIDBytes = store.MaxIDBytes
	// MaxQueryValueBytes caps any query value: ids are limited to 1,500
	// bytes and Firestore refuses a longer filter value.
	MaxQueryValueBytes = 1500
	// MaxURLBytes caps the request target; longer ones get 414.
	MaxURLBytes = 16 << 10
	// MaxStringBytes is the default cap of a string field in a JSON request
	// body (a request type raises it per field with a `max:"N"` tag).
	MaxStringBytes = 8 << 10
)

// IDNames are the body field names that hold document ids (or are used as
// one): like every query value they must be valid UTF-8 and at most
// MaxIDBytes. Whether an id names a document ("/", "__…__") is each route's
// to answer (404, or "not found" in its own shape); path wildcards are
// checked here.
var IDNames = map[string]bool{
	"siteId": true, "machineId": true, "machineIds": true, "userId": true, "deploymentId": true,
	"processId": true, "screenshotId": true, "webhookId": true, "credentialId": true, "keyId": true,
	"tokenId": true, "chatId": true, "chatIds": true, "eventId": true, "uploadId": true, "challengeId": true,
}

var wildcardRE = regexp.MustCompile(`\{([^}.]+)(\.\.\.)?\}`)

// Wildcards lists the path wildcard names of a mux pattern that stand for
// one segment: ids. A rest wildcard ({name...}) is a path, not an id.
func Wildcards(pattern string) []string {
	var out []string
	for _, m := range wildcardRE.FindAllStringSubmatch(pattern, -1) {
		if m[2] == "" {
			out = append(out, m[1])
		}
	}
	return out
}

// CheckInput judges the request target before anything else reads it:
// a malformed or oversized query, a query key or value that is not valid
// UTF-8 or is longer than Firestore can use, and a path wildcard that cannot
// name a document. Query problems are 400 naming the parameter; a path id
// that cannot exist is 404.
func CheckInput(r *http.Request, wildcards []string) error {
	if len(r.URL.RawQuery)+len(r.URL.RawPath)+len(r.URL.Path) > MaxURLBytes {
		return Errorf(http.StatusRequestURITooLong, "Request URL too long (limit %d bytes)", MaxURLBytes)
	}
	if !utf8.ValidString(r.URL.Path) {
		return NotFound("Not found: the path is not valid UTF-8")
	}
	for _, name := range wildcards {
		v := r.PathValue(name)
		if !store.ValidID(v) {
			return Errorf(http.StatusNotFound, "Not found: %s is not a valid id", name)
		}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return BadRequest("Malformed query string: " + err.Error())
	}
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return BadRequest("Malformed query string: a parameter name is not valid UTF-8")
		}
		for _, v := range vs {
			if err := CheckValue(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckValue judges one query value (or any id-like value) named name.
func CheckValue(name, v string) error {
	if !utf8.ValidString(v) {
		return Errorf(http.StatusBadRequest, "Parameter %s is not valid UTF-8", quoteName(name))
	}
	if len(v) > MaxQueryValueBytes {
		return Errorf(http.StatusBadRequest, "Parameter %s is too long (limit %d bytes)", quoteName(name), MaxQueryValueBytes)
	}
	return nil
}

// quoteName shows a parameter name in a message, bounded and printable.
func quoteName(name string) string {
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	return fmt.Sprintf("%q", strings.ToValidUTF8(name, "\uFFFD"))
}
