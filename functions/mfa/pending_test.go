package mfa

import (
	"context"
	"sync"
	"testing"

	"github.com/owlette/server/shared/apptest"
)

// TestPendingSecretRaceAcrossInstances: setups of one user on different
// instances (no shared in-memory flight) race on mfa_pending/{uid}; the
// write's precondition lets one secret win and every caller answers with it.
func TestPendingSecretRaceAcrossInstances(t *testing.T) {
	e := apptest.New(t)
	u := e.Member()
	h := handlers{d: e.D}
	key := e.D.Config.MFAEncryptionKey
	const n = 8
	e.RPCs.Reset()
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = h.pendingSecret(context.Background(), u.UID, u.Email, key)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("caller %d: %q, %v; caller 0: %q", i, got[i], errs[i], got[0])
		}
	}
	t.Logf("%d racing setups: one secret; %d write RPCs (one succeeded, the others lost their precondition)", n, e.RPCs.Writes())
}
