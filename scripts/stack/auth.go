package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
)

// firebaseJS is the pinned firebase-tools CLI (tools/package-lock.json),
// which runs the Auth emulator.
const firebaseJS = "tools/node_modules/firebase-tools/lib/bin/firebase.js"

// authReady reports whether an Auth emulator's `GET /` answer says it is
// ready: {"authEmulator":{"ready":true,...}}.
func authReady(status int, body []byte) bool {
	if status != http.StatusOK {
		return false
	}
	var v struct {
		AuthEmulator struct {
			Ready bool `json:"ready"`
		} `json:"authEmulator"`
	}
	return json.Unmarshal(body, &v) == nil && v.AuthEmulator.Ready
}

func authArgs() []string {
	return []string{firebaseJS, "emulators:start", "--only", "auth", "--project", projectID}
}

func authCommand(st *stack) (*exec.Cmd, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node not found on PATH: the Auth emulator needs Node.js")
	}
	if !fileExists(filepath.Join(st.root, firebaseJS)) {
		return nil, fmt.Errorf("%s not found: run `make deps` (or `cd tools && npm ci`)", firebaseJS)
	}
	cmd := exec.Command(node, authArgs()...)
	cmd.Dir = st.root // firebase.json (auth port, UI disabled) lives here
	cmd.Env = mergeEnv(serviceEnv(), []kv{{"CI", "true"}})
	return cmd, nil
}
