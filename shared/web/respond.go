package web

import (
	"encoding/json"
	"net/http"
)

// JSON writes v with the given status.
func JSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return Internal(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// OK writes v with status 200.
func OK(w http.ResponseWriter, v any) error { return JSON(w, http.StatusOK, v) }

// M is shorthand for a JSON object.
type M = map[string]any
