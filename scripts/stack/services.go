package main

import (
	"context"
	"io"
	"os/exec"
	"time"
)

// service is one part of the stack: how to tell that it answers, and how to
// start it (as a process, or inside this one).
type service struct {
	name    string // log and pid-file name
	title   string
	port    int
	timeout time.Duration                            // how long a start may take before it counts as failed
	marker  string                                   // substring of the command line of a process that `up` started
	probe   func(context.Context) probeState         // what answers on the port
	command func(*stack) (*exec.Cmd, error)          // how to start it as a process
	after   func(context.Context) error              // run once it is ready (started or reused)
	inProc  func(*stack, io.Writer) (stopper, error) // how to start it inside this process, if it can be
}

// stopper is a service running inside this process.
type stopper interface{ Stop() }

// services lists the stack: Firestore, Auth, fake-gcs-server, the relay.
func services() []*service {
	return []*service{
		{
			name: "firestore", title: "Firestore emulator", port: firestorePort, timeout: 120 * time.Second,
			marker: "CloudFirestore",
			probe: func(ctx context.Context) probeState {
				return probeHTTP(ctx, "http://"+addr(firestorePort)+"/", firestoreReady)
			},
			command: firestoreCommand,
		},
		{
			name: "auth", title: "Auth emulator", port: authPort, timeout: 240 * time.Second,
			marker: "firebase",
			probe: func(ctx context.Context) probeState {
				return probeHTTP(ctx, "http://"+addr(authPort)+"/", authReady)
			},
			command: authCommand,
		},
		{
			name: "gcs", title: "fake-gcs-server", port: gcsPort, timeout: 30 * time.Second,
			marker: "serve-gcs",
			probe: func(ctx context.Context) probeState {
				return probeHTTP(ctx, "http://"+addr(gcsPort)+"/storage/v1/b", gcsReady)
			},
			command: gcsCommand,
			inProc:  func(_ *stack, log io.Writer) (stopper, error) { return startGCS(log) },
			after:   ensureBucket,
		},
		{
			name: "relay", title: "trigger relay", port: relayPort, timeout: 10 * time.Second,
			marker: "serve-relay",
			probe: func(ctx context.Context) probeState {
				return probeHTTP(ctx, "http://"+addr(relayPort)+"/relay/v1/health", relayReady)
			},
			command: relayCommand,
			inProc:  func(_ *stack, log io.Writer) (stopper, error) { return startRelay(log) },
		},
	}
}
