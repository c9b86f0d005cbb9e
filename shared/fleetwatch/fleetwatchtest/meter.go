// Package fleetwatchtest measures what the fleet watch costs: a Firestore
// client on an apptest project that counts, besides RPCs (as apptest.RPCs
// does), the document reads and writes Firestore bills for them, so tests
// can state costs per run and per invocation from measurement.
//
// Billing model counted (Firestore Standard edition): a query bills one read
// per document returned and at least one; a get, one per document asked
// for, found or not; a count aggregation, one per 1,000 index entries
// counted and at least one; a commit, one write per write in it (a write's
// field transforms are not extra). Rolled-back transactions write nothing.
package fleetwatchtest

import (
	"context"
	"math"
	"os"
	"path"
	"sync"
	"testing"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
)

// Ops is what was counted.
type Ops struct {
	RPCReads, RPCWrites int // read and write RPCs (apptest.RPCs' Reads and Writes)
	Reads, Writes       int // billed document reads and writes
}

// Meter counts a client's Firestore operations.
type Meter struct {
	mu   sync.Mutex
	rpcs map[string]int
	ops  Ops
}

// Reset clears the counts.
func (m *Meter) Reset() {
	m.mu.Lock()
	m.rpcs, m.ops = map[string]int{}, Ops{}
	m.mu.Unlock()
}

// Ops returns the counts so far.
func (m *Meter) Ops() Ops {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// RPCs returns the RPC counts by method.
func (m *Meter) RPCs() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.rpcs))
	for k, v := range m.rpcs {
		out[k] = v
	}
	return out
}

func (m *Meter) rpc(method string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name := path.Base(method)
	m.rpcs[name]++
	switch name {
	case "BatchGetDocuments", "RunQuery", "RunAggregationQuery", "ListDocuments":
		m.ops.RPCReads++
	case "Commit", "BatchWrite":
		m.ops.RPCWrites++
	}
}

func (m *Meter) add(reads, writes int) {
	m.mu.Lock()
	m.ops.Reads += reads
	m.ops.Writes += writes
	m.mu.Unlock()
}

// Deps returns Deps over a metered client for e's project, sharing e's
// configuration, clock, Auth client and logger, and its meter.
func Deps(t testing.TB, e *apptest.Env) (*app.Deps, *Meter) {
	t.Helper()
	m := &Meter{}
	m.Reset()
	conn, err := grpc.NewClient(os.Getenv("FIRESTORE_EMULATOR_HOST"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(ownerCreds{}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
		grpc.WithChainUnaryInterceptor(m.unary),
		grpc.WithChainStreamInterceptor(m.stream),
	)
	if err != nil {
		t.Fatalf("grpc: %v", err)
	}
	fs, err := firestore.NewClient(context.Background(), e.Project, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatalf("firestore: %v", err)
	}
	t.Cleanup(func() { fs.Close() })
	d, err := app.New(e.D.Config, app.Clients{Firestore: fs, Auth: e.D.Auth}, e.D.Log, e.Clock.Now)
	if err != nil {
		t.Fatalf("deps: %v", err)
	}
	return d, m
}

func (m *Meter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	m.rpc(method)
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err == nil {
		switch r := req.(type) {
		case *firestorepb.CommitRequest:
			m.add(0, len(r.GetWrites()))
		case *firestorepb.BatchWriteRequest:
			m.add(0, len(r.GetWrites()))
		}
	}
	return err
}

func (m *Meter) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	m.rpc(method)
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &meteredStream{ClientStream: s, m: m, method: path.Base(method)}, nil
}

// meteredStream counts the documents of a read stream's responses.
type meteredStream struct {
	grpc.ClientStream
	m      *Meter
	method string
	docs   int
	done   bool
}

func (s *meteredStream) RecvMsg(msg any) error {
	err := s.ClientStream.RecvMsg(msg)
	if err != nil {
		// End of a query: a query that returned nothing still bills one.
		if s.method == "RunQuery" && !s.done && s.docs == 0 {
			s.m.add(1, 0)
		}
		s.done = true
		return err
	}
	switch r := msg.(type) {
	case *firestorepb.RunQueryResponse:
		if r.GetDocument() != nil {
			s.docs++
			s.m.add(1, 0)
		}
	case *firestorepb.BatchGetDocumentsResponse:
		if r.GetFound() != nil || r.GetMissing() != "" {
			s.m.add(1, 0)
		}
	case *firestorepb.RunAggregationQueryResponse:
		if res := r.GetResult(); res != nil {
			n := int64(0)
			for _, v := range res.GetAggregateFields() {
				n = max(n, v.GetIntegerValue())
			}
			s.m.add(int(max(1, (n+999)/1000)), 0)
		}
	}
	return nil
}

type ownerCreds struct{}

func (ownerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (ownerCreds) RequireTransportSecurity() bool { return false }
