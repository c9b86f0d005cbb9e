package rulestest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/apptest"
)

// ---------------------------------------------------------------------------
// Rules loading
// ---------------------------------------------------------------------------

// rulesFile is the repository's firestore.rules.
func rulesFile(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "firestore.rules")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read rules: %v", err)
	}
	return string(b)
}

func emulatorBase() string { return "http://" + os.Getenv("FIRESTORE_EMULATOR_HOST") }

// putRules loads rules text into project; it returns the emulator's error
// text (compile errors) or "" on success.
func putRules(project, text string) (string, error) {
	body, _ := json.Marshal(map[string]any{"rules": map[string]any{
		"files": []any{map[string]any{"name": "firestore.rules", "content": text}},
	}})
	req, _ := http.NewRequest(http.MethodPut, emulatorBase()+"/emulator/v1/projects/"+project+":securityRules", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("status %d: %s", resp.StatusCode, emulatorMessage(raw)), nil
	}
	return "", nil
}

// emulatorMessage extracts error.message from an emulator response.
func emulatorMessage(raw []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
		return strings.TrimSpace(e.Error.Message)
	}
	return strings.TrimSpace(string(raw))
}

// ---------------------------------------------------------------------------
// Rig: one isolated project with the rules, a fixture and actors
// ---------------------------------------------------------------------------

// actor is a caller: an ID token (empty for anonymous) and its uid.
type actor struct {
	name  string
	uid   string
	token string
}

type rig struct {
	t       *testing.T
	env     *apptest.Env
	project string
	fs      *firestore.Client
	actors  []*actor
	byName  map[string]*actor
	// seedDocs builds the fixture; fixture is the seeded state.
	seedDocs func(r *rig) map[string]map[string]any
	fixture  map[string]map[string]any
}

// newRig starts an isolated project (apptest.Env: its Admin client, its
// users docs and the Auth emulator) and loads the repository's rules into it.
func newRig(t *testing.T) *rig {
	t.Helper()
	env := apptest.New(t)
	if msg, err := putRules(env.Project, rulesFile(t)); err != nil {
		t.Fatalf("load rules into the emulator: %v", err)
	} else if msg != "" {
		t.Fatalf("firestore.rules does not compile: %s", msg)
	}
	return &rig{t: t, env: env, project: env.Project, fs: env.FS, byName: map[string]*actor{}}
}

func (r *rig) add(a *actor) *actor {
	r.actors = append(r.actors, a)
	r.byName[a.name] = a
	return a
}

// reset deletes every document of the project and seeds the fixture again.
func (r *rig) reset() {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, emulatorBase()+"/emulator/v1/projects/"+r.project+"/databases/(default)/documents", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("reset: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("reset: status %d", resp.StatusCode)
	}
	r.fixture = r.seedDocs(r)
	r.set(r.fixture)
}

// restore puts back the fixture state of the documents a write touched:
// the seeded data, or no document.
func (r *rig) restore(a *actor, o op) {
	r.t.Helper()
	paths := []string{o.path}
	if o.kind == opBatch || o.kind == opCommitAll {
		paths = paths[:0]
		for _, w := range o.writes {
			paths = append(paths, w.path)
		}
	}
	ctx := context.Background()
	for _, p := range paths {
		p = strings.ReplaceAll(p, "$uid", a.uid)
		var err error
		if d, ok := r.fixture[p]; ok {
			_, err = r.fs.Doc(p).Set(ctx, d)
		} else {
			_, err = r.fs.Doc(p).Delete(ctx)
		}
		if err != nil {
			r.t.Fatalf("restore %s: %v", p, err)
		}
	}
}

// set writes documents with the Admin client (rules bypassed).
func (r *rig) set(docs map[string]map[string]any) {
	r.t.Helper()
	paths := make([]string, 0, len(docs))
	for p := range docs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	ctx := context.Background()
	for len(paths) > 0 {
		n := min(len(paths), 400)
		b := r.fs.Batch()
		for _, p := range paths[:n] {
			b.Set(r.fs.Doc(p), docs[p])
		}
		if _, err := b.Commit(ctx); err != nil {
			r.t.Fatalf("seed: %v", err)
		}
		paths = paths[n:]
	}
}

// ---------------------------------------------------------------------------
// Operations: what a client sends through the REST API
// ---------------------------------------------------------------------------

// field is one field of a write: a value, a deletion (in the mask, absent
// from the body) or a server timestamp (a REQUEST_TIME transform, :commit).
type field struct {
	path       []string
	val        any
	del        bool
	serverTime bool
}

// F sets a value at a dotted path; a segment in backticks may contain dots.
func F(path string, v any) field { return field{path: splitPath(path), val: v} }

// Del deletes the field at path.
func Del(path string) field { return field{path: splitPath(path), del: true} }

// Now sets the field at path to the server time.
func Now(path string) field { return field{path: splitPath(path), serverTime: true} }

func splitPath(p string) []string {
	var segs []string
	var cur strings.Builder
	quoted := false
	for _, c := range p {
		switch {
		case c == '`':
			quoted = !quoted
		case c == '.' && !quoted:
			segs = append(segs, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(c)
		}
	}
	return append(segs, cur.String())
}

var simpleSegment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// fieldPath renders segments as a Firestore field path, backticking segments
// that are not simple identifiers (as the agent does for command ids).
func fieldPath(segs []string) string {
	out := make([]string, len(segs))
	for i, s := range segs {
		if simpleSegment.MatchString(s) {
			out[i] = s
		} else {
			out[i] = "`" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "`", "\\`") + "`"
		}
	}
	return strings.Join(out, ".")
}

type opKind int

const (
	opGet opKind = iota
	opPatchMask
	opReplace
	opCommit
	opDelete
	opQuery
	opBatch
	opCommitAll
)

// op is one client request. Paths and string values may contain "$uid",
// replaced by the caller's uid.
type op struct {
	kind   opKind
	path   string // document path (query: parent document path, "" = root)
	fields []field
	// query
	collection string
	where      []any // field, value pairs (EQUAL filters)
	// batch
	writes []op
}

func get(path string) op                     { return op{kind: opGet, path: path} }
func del(path string) op                     { return op{kind: opDelete, path: path} }
func patch(path string, fs ...field) op      { return op{kind: opPatchMask, path: path, fields: fs} }
func replaceDoc(path string, fs ...field) op { return op{kind: opReplace, path: path, fields: fs} }
func commit(path string, fs ...field) op     { return op{kind: opCommit, path: path, fields: fs} }
func batch(writes ...op) op                  { return op{kind: opBatch, writes: writes} }
func commitAll(writes ...op) op              { return op{kind: opCommitAll, writes: writes} }
func query(parent, collection string, where ...any) op {
	return op{kind: opQuery, path: parent, collection: collection, where: where}
}

func (o op) isWrite() bool { return o.kind != opGet && o.kind != opQuery }

// String describes the request for failure messages.
func (o op) String() string {
	switch o.kind {
	case opGet:
		return "GET " + o.path
	case opDelete:
		return "DELETE " + o.path
	case opReplace:
		return "PATCH " + o.path + " (no mask: whole-document replace) " + o.fieldList()
	case opPatchMask:
		return "PATCH " + o.path + " mask=" + o.fieldList()
	case opCommit:
		return ":commit update " + o.path + " mask+transforms=" + o.fieldList()
	case opQuery:
		return fmt.Sprintf(":runQuery %s/%s where %v", o.path, o.collection, o.where)
	case opBatch, opCommitAll:
		parts := make([]string, len(o.writes))
		for i, w := range o.writes {
			parts[i] = w.String()
		}
		verb := ":batchWrite"
		if o.kind == opCommitAll {
			verb = ":commit (atomic)"
		}
		return verb + " [" + strings.Join(parts, "; ") + "]"
	}
	return "?"
}

func (o op) fieldList() string {
	parts := make([]string, len(o.fields))
	for i, f := range o.fields {
		p := fieldPath(f.path)
		switch {
		case f.del:
			p = "-" + p
		case f.serverTime:
			p += "=NOW"
		}
		parts[i] = p
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// ---------------------------------------------------------------------------
// REST encoding
// ---------------------------------------------------------------------------

func subst(v any, uid string) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "$uid", uid)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = subst(e, uid)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = subst(e, uid)
		}
		return l
	}
	return v
}

// value encodes a Go value as a Firestore REST Value.
func value(v any) map[string]any {
	switch x := v.(type) {
	case nil:
		return map[string]any{"nullValue": nil}
	case bool:
		return map[string]any{"booleanValue": x}
	case int:
		return map[string]any{"integerValue": strconv.Itoa(x)}
	case int64:
		return map[string]any{"integerValue": strconv.FormatInt(x, 10)}
	case float64:
		return map[string]any{"doubleValue": x}
	case string:
		return map[string]any{"stringValue": x}
	case time.Time:
		return map[string]any{"timestampValue": x.UTC().Format(time.RFC3339Nano)}
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return value(l)
	case []any:
		vals := make([]any, len(x))
		for i, e := range x {
			vals[i] = value(e)
		}
		return map[string]any{"arrayValue": map[string]any{"values": vals}}
	case map[string]any:
		return map[string]any{"mapValue": map[string]any{"fields": fieldsOf(x)}}
	}
	panic(fmt.Sprintf("rulestest: cannot encode %T", v))
}

func fieldsOf(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = value(e)
	}
	return out
}

// body builds the nested document of the value fields, the mask of all
// fields (values and deletions) and the server-time transforms.
func (o op) body(uid string) (doc map[string]any, mask []string, transforms []string) {
	doc = map[string]any{}
	for _, f := range o.fields {
		fp := fieldPath(f.path)
		if f.serverTime {
			transforms = append(transforms, fp)
			continue
		}
		mask = append(mask, fp)
		if f.del {
			continue
		}
		m := doc
		for _, s := range f.path[:len(f.path)-1] {
			next, ok := m[s].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[s] = next
			}
			m = next
		}
		m[f.path[len(f.path)-1]] = subst(f.val, uid)
	}
	return doc, mask, transforms
}

// result is what came back: the HTTP status, and whether the emulator said
// PERMISSION_DENIED (with its explanation).
type result struct {
	status int
	denied bool
	msg    string
}

func (r *rig) docsURL(p string) string {
	u := emulatorBase() + "/v1/projects/" + r.project + "/databases/(default)/documents"
	if p != "" {
		u += "/" + p
	}
	return u
}

func (r *rig) docName(p string) string {
	return "projects/" + r.project + "/databases/(default)/documents/" + p
}

// writeJSON is one REST Write for :commit / :batchWrite.
func (r *rig) writeJSON(o op, uid string) map[string]any {
	p := strings.ReplaceAll(o.path, "$uid", uid)
	switch o.kind {
	case opDelete:
		return map[string]any{"delete": r.docName(p)}
	case opCommit, opPatchMask, opReplace:
		doc, mask, transforms := o.body(uid)
		w := map[string]any{"update": map[string]any{"name": r.docName(p), "fields": fieldsOf(doc)}}
		if o.kind != opReplace {
			w["updateMask"] = map[string]any{"fieldPaths": nonNil(mask)}
		}
		if len(transforms) > 0 {
			ts := make([]any, len(transforms))
			for i, fp := range transforms {
				ts[i] = map[string]any{"fieldPath": fp, "setToServerValue": "REQUEST_TIME"}
			}
			w["updateTransforms"] = ts
		}
		return w
	}
	panic("rulestest: not a write: " + o.String())
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// do sends o as actor a.
func (r *rig) do(a *actor, o op) result {
	r.t.Helper()
	uid := a.uid
	p := strings.ReplaceAll(o.path, "$uid", uid)
	var (
		method = http.MethodGet
		u      string
		body   any
	)
	switch o.kind {
	case opGet:
		u = r.docsURL(p)
	case opDelete:
		method, u = http.MethodDelete, r.docsURL(p)
	case opPatchMask, opReplace:
		doc, mask, transforms := o.body(uid)
		if len(transforms) > 0 {
			r.t.Fatalf("PATCH cannot carry server timestamps; use commit: %s", o)
		}
		method, u, body = http.MethodPatch, r.docsURL(p), map[string]any{"fields": fieldsOf(doc)}
		if o.kind == opPatchMask {
			q := url.Values{}
			for _, m := range mask {
				q.Add("updateMask.fieldPaths", m)
			}
			u += "?" + q.Encode()
		}
	case opCommit:
		method, u = http.MethodPost, r.docsURL("")+":commit"
		body = map[string]any{"writes": []any{r.writeJSON(o, uid)}}
	case opBatch, opCommitAll:
		ws := make([]any, len(o.writes))
		for i, w := range o.writes {
			ws[i] = r.writeJSON(w, uid)
		}
		method, u = http.MethodPost, r.docsURL("")+":batchWrite"
		if o.kind == opCommitAll {
			u = r.docsURL("") + ":commit"
		}
		body = map[string]any{"writes": ws}
	case opQuery:
		method, u = http.MethodPost, r.docsURL(p)+":runQuery"
		sq := map[string]any{"from": []any{map[string]any{"collectionId": o.collection}}}
		var filters []any
		for i := 0; i+1 < len(o.where); i += 2 {
			filters = append(filters, map[string]any{"fieldFilter": map[string]any{
				"field": map[string]any{"fieldPath": o.where[i]}, "op": "EQUAL", "value": value(subst(o.where[i+1], uid)),
			}})
		}
		if len(filters) == 1 {
			sq["where"] = filters[0]
		} else if len(filters) > 1 {
			sq["where"] = map[string]any{"compositeFilter": map[string]any{"op": "AND", "filters": filters}}
		}
		body = map[string]any{"structuredQuery": sq}
	}
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			r.t.Fatalf("encode: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, u, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s: %v", o, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := result{status: resp.StatusCode}
	if resp.StatusCode == http.StatusForbidden {
		res.denied, res.msg = true, emulatorMessage(raw)
		return res
	}
	if resp.StatusCode != http.StatusOK {
		res.msg = emulatorMessage(raw)
		return res
	}
	switch o.kind {
	case opBatch:
		// :batchWrite answers 200 with one status per write.
		var out struct {
			Status []struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"status"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			res.status, res.msg = 0, "undecodable batchWrite response: "+string(raw)
			return res
		}
		for i, s := range out.Status {
			if s.Code == 7 { // PERMISSION_DENIED
				res.denied = true
				res.msg += fmt.Sprintf("write %d: %s; ", i, strings.TrimSpace(s.Message))
			} else if s.Code != 0 {
				res.status, res.msg = 0, fmt.Sprintf("write %d: code %d %s", i, s.Code, s.Message)
				return res
			}
		}
	case opQuery:
		// :runQuery streams a JSON array; an error may arrive inside it.
		var out []struct {
			Error *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Status  string `json:"status"`
			} `json:"error"`
		}
		if json.Unmarshal(raw, &out) == nil {
			for _, e := range out {
				if e.Error != nil {
					if e.Error.Status == "PERMISSION_DENIED" || e.Error.Code == 403 || e.Error.Code == 7 {
						res.denied, res.msg = true, strings.TrimSpace(e.Error.Message)
					} else {
						res.status, res.msg = 0, e.Error.Message
					}
					return res
				}
			}
		}
	}
	return res
}

// ---------------------------------------------------------------------------
// Case matrix
// ---------------------------------------------------------------------------

// rc is one operation and the actors it must be allowed for; every other
// actor of the rig must be denied.
type rc struct {
	name  string
	op    op
	allow []string
}

// who lists actor names; groups may be concatenated with it.
func who(names ...string) []string { return names }

func plus(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// run checks every case against every actor. It resets the fixture before a
// case whenever an earlier write may have changed it.
func (r *rig) run(cases []rc) int {
	r.t.Helper()
	n := 0
	for _, c := range cases {
		allowed := map[string]bool{}
		for _, a := range c.allow {
			if r.byName[a] == nil {
				r.t.Fatalf("case %q: unknown actor %q", c.name, a)
			}
			allowed[a] = true
		}
		for _, a := range r.actors {
			n++
			res := r.do(a, c.op)
			if c.op.isWrite() && !res.denied {
				r.restore(a, c.op)
			}
			want := "DENIED"
			if allowed[a.name] {
				want = "ALLOWED"
			}
			// A GET of a missing document passed the rules when it answers 404.
			ok := res.status == http.StatusOK || (c.op.kind == opGet && res.status == http.StatusNotFound)
			switch {
			case !ok && !res.denied:
				r.t.Errorf("%s | %s as %s: want %s, got unexpected status %d: %s", c.name, c.op, a.name, want, res.status, res.msg)
			case allowed[a.name] && res.denied:
				r.t.Errorf("%s | %s as %s: want ALLOWED, rules denied it: %s", c.name, c.op, a.name, res.msg)
			case !allowed[a.name] && !res.denied:
				r.t.Errorf("%s | %s as %s: want DENIED, rules allowed it", c.name, c.op, a.name)
			}
		}
	}
	return n
}
