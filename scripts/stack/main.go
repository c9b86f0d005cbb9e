// Command stack manages the local emulator stack that tests and the dev
// server run against: the Firestore emulator (gcloud jar), the Firebase Auth
// emulator (firebase-tools), fake-gcs-server (in-process) and the trigger
// relay (in-process): the Firestore emulator delivers change events to the
// relay, which forwards each to the process that registered the event's
// project (the dev server for demo-owlette, each test for its own project;
// see shared/trigger/relay).
//
//	go run ./scripts/stack run [--dev-env] -- CMD ARGS...   start what is missing, run CMD with the stack env, stop what it started
//	go run ./scripts/stack dev                             start what is missing, then the dev server on 127.0.0.1:18080
//	go run ./scripts/stack up                              start what is missing and leave it running (pids in .stack/pids)
//	go run ./scripts/stack down                            stop what `up` started
//	go run ./scripts/stack status                          show which services answer
//	go run ./scripts/stack env [--dev-env]                 print the stack env as shell exports
//
// A service that already answers on its port is reused and never stopped.
// Started services log to .stack/logs/<name>.log.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Fixed conventions of the local stack (loopback only).
const (
	projectID     = "demo-owlette" // "demo-" keeps every Firebase tool offline
	bucketName    = "demo-owlette.appspot.com"
	loopback      = "127.0.0.1"
	devPort       = 18080
	firestorePort = 18081
	gcsPort       = 18082
	resendPort    = 18083 // the dev server's fake Resend (caught e-mails)
	llmPort       = 18084 // the dev server's fake Anthropic / OpenAI
	relayPort     = 18090 // the Firestore emulator's --functions_emulator
	authPort      = 18099

	modulePath = "github.com/owlette/server"
	stateDir   = ".stack"
)

func addr(port int) string { return net.JoinHostPort(loopback, strconv.Itoa(port)) }

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	sub, args := os.Args[1], os.Args[2:]
	if sub == "serve-gcs" {
		os.Exit(serveGCS())
	}
	if sub == "serve-relay" {
		os.Exit(serveRelay())
	}
	if sub == "-h" || sub == "--help" || sub == "help" {
		usage()
		return
	}
	root, err := findRoot()
	if err != nil {
		fatal(err)
	}
	switch sub {
	case "run":
		os.Exit(cmdRun(root, args))
	case "dev":
		os.Exit(cmdDev(root))
	case "up":
		os.Exit(cmdUp(root))
	case "down":
		os.Exit(cmdDown(root))
	case "status":
		os.Exit(cmdStatus())
	case "env":
		dev := len(args) > 0 && args[0] == "--dev-env"
		for _, v := range stackEnv(dev) {
			fmt.Printf("export %s=%s\n", v.Key, shellQuote(v.Value))
		}
	default:
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: go run ./scripts/stack COMMAND
  run [--dev-env] -- CMD ARGS...  start missing services, run CMD with the stack env, stop what was started
  dev                             start missing services, then the dev server on `+addr(devPort)+`
  up                              start missing services and leave them running (pids in .stack/pids)
  down                            stop the services that up started
  status                          show which services answer
  env [--dev-env]                 print the stack env as shell exports
`)
}

func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "stack: "+format+"\n", args...)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "stack:", err)
	os.Exit(1)
}
