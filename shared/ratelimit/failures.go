package ratelimit

import (
	"context"
	"time"

	"cloud.google.com/go/firestore"
)

// FailurePolicy bounds failed attempts (wrong MFA codes, say) per key: after
// Limit failures within Window of the first one, the key is blocked until
// that window ends. Successes do not count and do not reset the count.
type FailurePolicy struct {
	// Name prefixes the document ids ("fail-<name>:<key>").
	Name   string
	Limit  int
	Window time.Duration
}

// Failures counts failed attempts per key in Firestore, so the limit holds
// across instances. Unlike Limiter it writes on every failure (failures are
// rare) and reads on every Blocked check; documents live in Collection next
// to the request counters and carry the same expiresAt TTL field.
type Failures struct {
	fs  *firestore.Client
	p   FailurePolicy
	now func() time.Time
}

// NewFailures returns a failure counter under policy p; now may be nil.
func NewFailures(fs *firestore.Client, p FailurePolicy, now func() time.Time) *Failures {
	if now == nil {
		now = time.Now
	}
	return &Failures{fs: fs, p: p, now: now}
}

// failureDoc is ratelimits/fail-<name>:<key>.
type failureDoc struct {
	Count     int64     `firestore:"count"`
	Since     time.Time `firestore:"since"`     // first failure of the window
	ExpiresAt time.Time `firestore:"expiresAt"` // Since + Window (TTL field)
}

func (f *Failures) ref(key string) *firestore.DocumentRef {
	return f.fs.Collection(Collection).Doc(DocID("fail-"+f.p.Name, key))
}

// Blocked reports whether key has reached the limit, and until when.
func (f *Failures) Blocked(ctx context.Context, key string) (bool, time.Time, error) {
	snap, err := f.ref(key).Get(ctx)
	if err != nil {
		if snap != nil && !snap.Exists() {
			return false, time.Time{}, nil
		}
		return false, time.Time{}, err
	}
	var d failureDoc
	if err := snap.DataTo(&d); err != nil {
		return false, time.Time{}, err
	}
	return f.blocked(d)
}

func (f *Failures) blocked(d failureDoc) (bool, time.Time, error) {
	until := d.Since.Add(f.p.Window)
	if d.Count >= int64(f.p.Limit) && f.now().Before(until) {
		return true, until, nil
	}
	return false, time.Time{}, nil
}

// Failure records one failed attempt for key and reports whether the key is
// now blocked, and until when.
func (f *Failures) Failure(ctx context.Context, key string) (bool, time.Time, error) {
	ref := f.ref(key)
	var d failureDoc
	err := f.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		d = failureDoc{}
		snap, err := tx.Get(ref)
		if err != nil && (snap == nil || snap.Exists()) {
			return err
		}
		now := f.now()
		if snap.Exists() {
			if err := snap.DataTo(&d); err != nil {
				return err
			}
		}
		if !snap.Exists() || !now.Before(d.Since.Add(f.p.Window)) {
			d = failureDoc{Since: now}
		}
		d.Count++
		d.ExpiresAt = d.Since.Add(f.p.Window)
		return tx.Set(ref, d)
	})
	if err != nil {
		return false, time.Time{}, err
	}
	return f.blocked(d)
}
