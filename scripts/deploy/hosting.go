package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/owlette/server/shared/fn"
)

// Hosting sends each /api glob to the Cloud Run service behind the gen2
// function. A "run" rewrite is used rather than "function": the Firebase CLI
// only turns a "function" rewrite into the Cloud Run form when it can find the
// function in the project's backend listing, and otherwise falls back to the
// 1st-gen form; functions deployed by gcloud are better addressed directly.
// The service id of a gen2 function is its (lower-case) name.

type hostingConfig struct {
	Public   string    `json:"public"`
	Ignore   []string  `json:"ignore"`
	Rewrites []rewrite `json:"rewrites"`
}

type rewrite struct {
	Source string    `json:"source"`
	Run    runTarget `json:"run"`
}

type runTarget struct {
	ServiceID string `json:"serviceId"`
	Region    string `json:"region"`
}

// hostingFor builds the "hosting" value: every glob of every function, in
// table order (Hosting takes the first matching rewrite).
func hostingFor(fns []fn.Spec, region string) hostingConfig {
	h := hostingConfig{
		Public: "public",
		Ignore: []string{"firebase.json", "**/.*", "**/node_modules/**"},
	}
	for _, f := range fns {
		for _, p := range f.Paths {
			h.Rewrites = append(h.Rewrites, rewrite{Source: p, Run: runTarget{ServiceID: f.Name, Region: region}})
		}
	}
	return h
}

// rewriteFirebaseJSON returns firebase.json with its "hosting" key replaced by
// h. Every other top-level key keeps its exact original text and position; a
// missing "hosting" key is appended. Output uses 2-space indentation and ends
// with a newline, so running it twice is a no-op.
func rewriteFirebaseJSON(src []byte, h hostingConfig) ([]byte, error) {
	type member struct {
		key string
		raw []byte
	}
	var members []member
	if len(bytes.TrimSpace(src)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(src))
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("firebase.json: %w", err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return nil, fmt.Errorf("firebase.json: top level is not an object")
		}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("firebase.json: %w", err)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("firebase.json: key %q: %w", kt, err)
			}
			members = append(members, member{key: kt.(string), raw: raw})
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("firebase.json: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, fmt.Errorf("firebase.json: trailing data after the top-level object")
		}
	}

	var hb bytes.Buffer
	enc := json.NewEncoder(&hb)
	enc.SetEscapeHTML(false)
	enc.SetIndent("  ", "  ")
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	hosting := bytes.TrimRight(hb.Bytes(), "\n")

	found := false
	for i := range members {
		if members[i].key == "hosting" {
			members[i].raw = hosting
			found = true
		}
	}
	if !found {
		members = append(members, member{key: "hosting", raw: hosting})
	}

	var out bytes.Buffer
	out.WriteString("{\n")
	for i, m := range members {
		k, _ := json.Marshal(m.key)
		out.WriteString("  ")
		out.Write(k)
		out.WriteString(": ")
		out.Write(m.raw)
		if i < len(members)-1 {
			out.WriteString(",")
		}
		out.WriteString("\n")
	}
	out.WriteString("}\n")
	if !json.Valid(out.Bytes()) {
		return nil, fmt.Errorf("firebase.json: generated invalid JSON")
	}
	return out.Bytes(), nil
}
