package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/owlette/server/shared/trigger/relay"
	"github.com/owlette/server/shared/web"
)

// relayReady reports whether a `GET /relay/v1/health` answer comes from a
// trigger relay.
func relayReady(status int, body []byte) bool {
	if status != http.StatusOK {
		return false
	}
	var v struct {
		Relay string `json:"relay"`
	}
	return json.Unmarshal(body, &v) == nil && v.Relay == relay.Name
}

// relayCommand runs this program's serve-relay in a separate process (`up`).
func relayCommand(st *stack) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "serve-relay")
	cmd.Dir = st.root
	cmd.Env = serviceEnv()
	return cmd, nil
}

// relayServer is the relay running in this process.
type relayServer struct{ srv *http.Server }

func (r relayServer) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

// startRelay serves the trigger relay on its port in this process.
func startRelay(log io.Writer) (relayServer, error) {
	ln, err := net.Listen("tcp", addr(relayPort))
	if err != nil {
		return relayServer{}, err
	}
	srv := web.NewServer(relay.New(log))
	go func() { _ = srv.Serve(ln) }()
	return relayServer{srv}, nil
}

// serveRelay runs the trigger relay in the foreground until SIGINT/SIGTERM
// (what `up` starts in the background).
func serveRelay() int {
	srv, err := startRelay(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-relay:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "serve-relay: trigger relay on http://%s\n", addr(relayPort))
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	<-sigc
	srv.Stop()
	return 0
}
