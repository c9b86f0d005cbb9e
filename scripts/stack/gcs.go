package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// gcsReady reports whether a `GET /storage/v1/b` answer comes from a GCS
// JSON API (fake-gcs-server answers {"kind":"storage#buckets",...}). Only
// the leading fields are read: on a long-lived stack the bucket list grows
// past what the probe reads, so the body may be cut short.
func gcsReady(status int, body []byte) bool {
	if status != http.StatusOK {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return false
		}
		if key == "kind" {
			kind, err := dec.Token()
			return err == nil && kind == "storage#buckets"
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

// gcsCommand runs this program's serve-gcs in a separate process; only `up`
// needs that, since it has to outlive this process.
func gcsCommand(st *stack) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "serve-gcs")
	cmd.Dir = st.root
	cmd.Env = serviceEnv()
	return cmd, nil
}

// startGCS runs fake-gcs-server in this process with an in-memory backend
// and the stack's bucket.
func startGCS(log io.Writer) (*fakestorage.Server, error) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:      "http",
		Host:        loopback,
		Port:        gcsPort,
		ExternalURL: "http://" + addr(gcsPort),
		PublicHost:  addr(gcsPort),
		Writer:      log,
	})
	if err != nil {
		return nil, err
	}
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucketName})
	return srv, nil
}

// ensureBucket creates the stack's bucket on a fake-gcs-server that lacks it
// (one that this program did not start, say).
func ensureBucket(ctx context.Context) error {
	base := "http://" + addr(gcsPort) + "/storage/v1/b"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+bucketName, nil)
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	body, _ := json.Marshal(map[string]string{"name": bucketName})
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"?project="+projectID, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err = probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusConflict {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("creating bucket %s: %s: %s", bucketName, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// serveGCS runs fake-gcs-server in the foreground until SIGINT/SIGTERM (what
// `up` starts in the background).
func serveGCS() int {
	srv, err := startGCS(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-gcs:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "serve-gcs: fake-gcs-server on http://%s, bucket %s\n", addr(gcsPort), bucketName)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	<-sigc
	srv.Stop()
	return 0
}
