package main

import (
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// firestoreReady reports whether a Firestore emulator's `GET /` answer says
// it is up: status 200 and the body "Ok".
func firestoreReady(status int, body []byte) bool {
	return status == http.StatusOK && strings.TrimSpace(string(body)) == "Ok"
}

// Where the Firestore emulator jar lives in the Cloud SDK, and its main class.
const (
	sdkFallback   = "/usr/lib/google-cloud-sdk"
	jarRelPath    = "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
	firestoreMain = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
)

// firestoreJar finds the emulator jar in the Cloud SDK: first next to the
// gcloud on PATH (instant), then where `gcloud info` says the SDK is (slow:
// gcloud is Python), then in the Debian package location. It returns the
// path it expects when none has the jar.
func firestoreJar() string {
	if gcloud, err := exec.LookPath("gcloud"); err == nil {
		if real, err := filepath.EvalSymlinks(gcloud); err == nil {
			// <root>/bin/gcloud
			if jar := filepath.Join(filepath.Dir(filepath.Dir(real)), jarRelPath); fileExists(jar) {
				return jar
			}
		}
	}
	if root := sdkRootFromGcloud(); root != "" {
		if jar := filepath.Join(root, jarRelPath); fileExists(jar) {
			return jar
		}
	}
	return filepath.Join(sdkFallback, jarRelPath)
}

// sdkRootFromGcloud asks gcloud for its installation root ("" if it can't).
func sdkRootFromGcloud() string {
	out, err := exec.Command("gcloud", "info", "--format=value(installation.sdk_root)").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// firestoreArgs is the java command line for the emulator jar. rules may be
// empty (no rules: everything is allowed).
func firestoreArgs(jar, rules string) []string {
	args := []string{
		"-Duser.language=en", "-cp", jar, firestoreMain, "start",
		"--host=" + loopback, "--port=" + strconv.Itoa(firestorePort), "--project_id=" + projectID,
	}
	if rules != "" {
		args = append(args, "--rules="+rules)
	}
	return append(args, "--functions_emulator="+addr(relayPort))
}

func firestoreCommand(st *stack) (*exec.Cmd, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("java not found on PATH: the Firestore emulator needs a JRE (17 works)")
	}
	jar := firestoreJar()
	if !fileExists(jar) {
		return nil, fmt.Errorf("Firestore emulator jar not found at %s: run `gcloud components install cloud-firestore-emulator` "+
			"or `apt-get install google-cloud-cli-firestore-emulator`", jar)
	}
	rules := ""
	if p := filepath.Join(st.root, "firestore.rules"); fileExists(p) {
		rules = p
	}
	cmd := exec.Command(java, firestoreArgs(jar, rules)...)
	cmd.Dir = st.root
	cmd.Env = serviceEnv()
	return cmd, nil
}
