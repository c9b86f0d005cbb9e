package apptest

import (
	"context"
	"math"
	"os"
	"path"
	"sync"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// RPCs counts Firestore RPCs by method name (e.g. "BatchGetDocuments",
// "RunQuery", "Commit"), so tests and benchmarks can state what a request
// costs.
type RPCs struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *RPCs) add(method string) {
	c.mu.Lock()
	c.n[path.Base(method)]++
	c.mu.Unlock()
}

// Snapshot returns the counts so far.
func (c *RPCs) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// Reset clears the counts.
func (c *RPCs) Reset() { c.mu.Lock(); c.n = map[string]int{}; c.mu.Unlock() }

// Writes counts write RPCs.
func (c *RPCs) Writes() int {
	s := c.Snapshot()
	return s["Commit"] + s["BatchWrite"]
}

// Reads counts read RPCs.
func (c *RPCs) Reads() int {
	s := c.Snapshot()
	return s["BatchGetDocuments"] + s["RunQuery"] + s["RunAggregationQuery"] + s["ListDocuments"]
}

// options returns a connection to the emulator that counts RPCs. The
// Firestore client dials the emulator itself and ignores dial options, so
// the counting connection is passed whole; like the client's own, it sends
// the emulator's "owner" credential (Admin SDK semantics: rules bypassed).
func (c *RPCs) options() []option.ClientOption {
	conn, err := grpc.NewClient(os.Getenv("FIRESTORE_EMULATOR_HOST"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(ownerCreds{}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			c.add(method)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			c.add(method)
			return streamer(ctx, desc, cc, method, opts...)
		}),
	)
	if err != nil {
		panic(err)
	}
	return []option.ClientOption{option.WithGRPCConn(conn)}
}

type ownerCreds struct{}

func (ownerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (ownerCreds) RequireTransportSecurity() bool { return false }
