// Command devserver serves every Cloud Function on one local port, routing
// each /api path with the same table that generates Firebase Hosting's
// rewrites (functions/registry), so a local run behaves like production. With
// -seed it also creates demo data and prints an API key to try.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/web"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	seed := flag.Bool("seed", false, "create demo data (site, admin, API key) and print how to use it")
	agents := flag.Int("agents", 0, "with -seed: run this many simulated agents on the demo site")
	withFakes := flag.Bool("fakes", false, "serve loopback fakes of Resend and the LLM providers where RESEND_BASE_URL and ANTHROPIC_BASE_URL point")
	stateDir := flag.String("agent-state", ".stack/agentsim", "where simulated agents keep their credentials")
	flag.Parse()
	log := logging.Default()
	slog.SetDefault(log)
	if err := run(*addr, *seed, *agents, *stateDir, *withFakes, log); err != nil {
		log.Error("devserver failed", "error", err.Error())
		os.Exit(1)
	}
}

func run(addr string, seed bool, agents int, stateDir string, withFakes bool, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Getenv("FIRESTORE_EMULATOR_HOST")) == 0 {
		return errors.New("FIRESTORE_EMULATOR_HOST is not set: start the server with `make dev`")
	}
	d, err := app.FromEnv(ctx)
	if err != nil {
		return err
	}
	fk := &fakes{}
	if withFakes {
		if fk, err = startFakes(d.Config, log); err != nil {
			return err
		}
		defer fk.close()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := web.NewServer(NewRouter(d))
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	base := "http://" + ln.Addr().String()
	srv.Handler = withBackground(ctx, d, srv.Handler, base) // Firestore triggers and schedules (triggers.go)
	agentsDone := make(chan struct{})
	close(agentsDone)
	log.Info("serving every function", "url", base)
	if seed {
		info, err := Seed(ctx, d)
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		fmt.Fprint(os.Stdout, info.Banner(base, fk.banner()))
		if agents > 0 {
			// The agents talk to this server over HTTP, so serve first.
			agentsDone = make(chan struct{})
			go func() {
				defer close(agentsDone)
				fleet, err := startAgents(ctx, d, info, base, agents, stateDir, log.With("component", "agentsim"))
				if err != nil {
					log.Error("simulated agents did not all start", "error", err.Error())
				}
				if fleet != nil {
					log.Info("simulated agents running", "site", SiteID, "agents", fleet.Len())
					<-ctx.Done()
					fleet.Stop()
				}
			}()
		}
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Let the agents write online:false before the process ends.
	select {
	case <-agentsDone:
	case <-time.After(10 * time.Second):
	}
	return nil
}
