package ratelimit

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
)

// FailurePolicy bounds failed attempts (wrong MFA codes, say) per key: after
// Limit attempts within Window of the first one, the key is blocked until
// that window ends.
type FailurePolicy struct {
	// Name prefixes the document ids ("fail-<name>:<key>").
	Name   string
	Limit  int
	Window time.Duration
}

// Failures counts attempts per key in Firestore, so the limit holds across
// instances. Counting is atomic (DECISIONS §3 "Failed-attempt limits are
// atomic"): an attempt is reserved — counted — in the same transaction that
// checks the budget, before the code is verified, so parallel guesses cannot
// exceed the limit; a successful attempt gives its reservation back.
// Documents live in Collection next to the request counters and carry the
// same expiresAt TTL field.
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
	Since     time.Time `firestore:"since"`     // first attempt of the window
	ExpiresAt time.Time `firestore:"expiresAt"` // Since + Window (TTL field)
}

func (f *Failures) ref(key string) *firestore.DocumentRef {
	return f.fs.Collection(Collection).Doc(DocID("fail-"+f.p.Name, key))
}

// Attempt names one counter an attempt is charged to.
type Attempt struct {
	F   *Failures
	Key string
}

// Reservation is a set of reserved attempts.
type Reservation struct {
	fs    *firestore.Client
	items []reserved
}

type reserved struct {
	a     Attempt
	since time.Time
}

// ErrBlocked is returned by Reserve when a counter is used up; Until says
// when it frees again.
type ErrBlocked struct{ Until time.Time }

func (e *ErrBlocked) Error() string { return "too many failed attempts until " + e.Until.String() }

// Reserve counts one attempt against every counter in a single transaction,
// or none when any of them is used up (*ErrBlocked with the latest end of
// their windows). All attempts must use the same Firestore client.
func Reserve(ctx context.Context, attempts ...Attempt) (*Reservation, error) {
	if len(attempts) == 0 {
		return &Reservation{}, nil
	}
	fs := attempts[0].F.fs
	// Attempts on one counter from this instance take turns: a burst of
	// parallel transactions on one document would otherwise keep aborting
	// each other (seconds each under contention); across instances the
	// transaction still decides.
	unlock := lockStripes(attempts)
	defer unlock()
	var res *Reservation
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		res = &Reservation{fs: fs}
		refs := make([]*firestore.DocumentRef, len(attempts))
		for i, a := range attempts {
			refs[i] = a.F.ref(a.Key)
		}
		snaps, err := tx.GetAll(refs)
		if err != nil {
			return err
		}
		docs := make([]failureDoc, len(attempts))
		var until time.Time
		for i, a := range attempts {
			now := a.F.now()
			d := failureDoc{Since: now}
			if snaps[i].Exists() {
				var stored failureDoc
				if err := snaps[i].DataTo(&stored); err != nil {
					return err
				}
				if now.Before(stored.Since.Add(a.F.p.Window)) {
					d = stored
				}
			}
			if d.Count >= int64(a.F.p.Limit) {
				if u := d.Since.Add(a.F.p.Window); u.After(until) {
					until = u
				}
			}
			docs[i] = d
		}
		if !until.IsZero() {
			return &ErrBlocked{Until: until}
		}
		for i, a := range attempts {
			docs[i].Count++
			docs[i].ExpiresAt = docs[i].Since.Add(a.F.p.Window)
			if err := tx.Set(refs[i], docs[i]); err != nil {
				return err
			}
			res.items = append(res.items, reserved{a: a, since: docs[i].Since})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// stripes serialise this instance's reservations per counter document.
var stripes [64]sync.Mutex

// lockStripes locks the stripes of attempts' documents in index order (no
// deadlock between reservations of overlapping sets) and returns the unlock.
func lockStripes(attempts []Attempt) func() {
	idx := make([]int, 0, len(attempts))
	for _, a := range attempts {
		h := fnv.New32a()
		h.Write([]byte(a.F.ref(a.Key).Path))
		i := int(h.Sum32() % uint32(len(stripes)))
		if !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	for _, i := range idx {
		stripes[i].Lock()
	}
	return func() {
		for _, i := range idx {
			stripes[i].Unlock()
		}
	}
}

// Release gives the reserved attempts back (the attempt succeeded). A
// counter whose window has moved on since the reservation is left alone.
func (r *Reservation) Release(ctx context.Context) error {
	if r == nil || len(r.items) == 0 {
		return nil
	}
	return r.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		refs := make([]*firestore.DocumentRef, len(r.items))
		for i, it := range r.items {
			refs[i] = it.a.F.ref(it.a.Key)
		}
		snaps, err := tx.GetAll(refs)
		if err != nil {
			return err
		}
		for i, it := range r.items {
			if !snaps[i].Exists() {
				continue
			}
			var d failureDoc
			if err := snaps[i].DataTo(&d); err != nil {
				return err
			}
			if !d.Since.Equal(it.since) || d.Count <= 0 {
				continue
			}
			if err := tx.Update(refs[i], []firestore.Update{{Path: "count", Value: d.Count - 1}}); err != nil {
				return err
			}
		}
		return nil
	})
}

// IsBlocked reports whether err is Reserve's refusal, and until when.
func IsBlocked(err error) (time.Time, bool) {
	var b *ErrBlocked
	if errors.As(err, &b) {
		return b.Until, true
	}
	return time.Time{}, false
}
