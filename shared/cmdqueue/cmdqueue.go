// Package cmdqueue is the machine command queue of api.md §1.12 and
// datamodel.md §2.3: two single documents under each machine,
// commands/pending and commands/completed, whose top-level fields are command
// ids. The server merges commands into pending; the agent polls it, merges
// its result into completed and removes the pending key. A caller that waits
// for the result listens to completed (a Firestore snapshot listener, so the
// answer arrives as soon as the agent writes it), then removes just that
// field.
//
// Command ids are single field names, never paths: every write and delete
// here uses a one-segment FieldPath, so an id that contains a '.' (a machine
// id with a dot) stays one field.
package cmdqueue

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
)

// Limits of a waiting request (api.md E22, X05): timeout seconds default to
// 30. The original capped them at 120; Firebase Hosting ends a rewritten
// request after 60 s, so a longer wait could only end in Hosting's own
// error instead of our 200 {status:"timeout"}: waits are capped at 50 s
// (WaitDeadline is the routes' request deadline, a little longer).
const (
	DefaultWait  = 30 * time.Second
	MaxWait      = 50 * time.Second
	WaitDeadline = MaxWait + 5*time.Second
)

// ErrTimeout means no final result arrived within the wait.
var ErrTimeout = errors.New("command result not received in time")

// Pending is the machine's pending-commands document.
func Pending(fs *firestore.Client, siteID, machineID string) *firestore.DocumentRef {
	return commands(fs, siteID, machineID).Doc("pending")
}

// Completed is the machine's completed-commands document.
func Completed(fs *firestore.Client, siteID, machineID string) *firestore.DocumentRef {
	return commands(fs, siteID, machineID).Doc("completed")
}

func commands(fs *firestore.Client, siteID, machineID string) *firestore.CollectionRef {
	return fs.Collection("sites").Doc(siteID).Collection("machines").Doc(machineID).Collection("commands")
}

// Enqueue merges cmd into the pending document under the field id (the
// document is created if missing: nothing checks that the machine exists).
func Enqueue(ctx context.Context, fs *firestore.Client, siteID, machineID, id string, cmd map[string]any) error {
	_, err := Pending(fs, siteID, machineID).Set(ctx, map[string]any{id: cmd}, firestore.Merge(firestore.FieldPath{id}))
	return err
}

// progress lists the intermediate statuses the agent writes into completed
// before the terminal entry (datamodel.md §2.3, §5.6).
var progress = map[string]bool{
	"closing_processes": true, "downloading": true, "installing": true, "uninstalling": true, "extracting": true,
}

// Final reports whether a completed entry is the command's final result:
// anything but a progress write (completed, failed, cancelled, or a status
// this server does not know).
func Final(entry any) bool {
	m, ok := entry.(map[string]any)
	if !ok {
		return true
	}
	s, _ := m["status"].(string)
	return !progress[s]
}

// Wait listens to the completed document until the entry id holds a final
// result, removes that one field and returns the entry. It returns
// ErrTimeout after timeout (at once when timeout ≤ 0, without any read) and
// the context's error when ctx ends first (the client went away). The
// listener is closed on every path.
//
// Progress entries are left in place: they are not the result, and the
// agent merges the terminal entry into them.
func Wait(ctx context.Context, fs *firestore.Client, siteID, machineID, id string, timeout time.Duration) (any, error) {
	if timeout <= 0 {
		return nil, ErrTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ref := Completed(fs, siteID, machineID)
	it := ref.Snapshots(wctx)
	defer it.Stop()
	for {
		snap, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if wctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded {
				return nil, ErrTimeout
			}
			return nil, err
		}
		if !snap.Exists() {
			continue
		}
		entry, ok := snap.Data()[id]
		if !ok || !Final(entry) {
			continue
		}
		// Consume the result. Only this field: other waiters' results and
		// the deployment entries of the same document stay.
		_, err = ref.Update(ctx, []firestore.Update{{FieldPath: firestore.FieldPath{id}, Value: firestore.Delete}})
		if err != nil && !store.NotFound(err) {
			logging.From(ctx).Warn("command result read but not removed", "commandId", id, "error", err.Error())
		}
		return entry, nil
	}
}

// WaitFor converts a request's timeout value into a wait, as
// Math.min(timeout || 30, MaxWait) seconds does: falsy ⇒ the default, numbers
// and numeric strings count, anything else is NaN (an immediate timeout, as
// is a negative value).
func WaitFor(timeout any) time.Duration {
	if !store.Truthy(timeout) {
		return DefaultWait
	}
	s := Number(timeout)
	if !(s > 0) { // NaN, zero, negative
		return 0
	}
	return time.Duration(math.Min(s, MaxWait.Seconds()) * float64(time.Second))
}

// Number is JavaScript's Number(v) for a decoded JSON value: booleans are
// 0/1, strings are parsed (blank ⇒ 0, decimal, 0x/0o/0b, Infinity), a
// one-element array is its element, anything else is NaN.
func Number(v any) float64 {
	switch x := v.(type) {
	case nil:
		return 0
	case bool:
		if x {
			return 1
		}
		return 0
	case float64:
		return x
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case string:
		return numberString(x)
	case []any:
		switch len(x) {
		case 0:
			return 0
		case 1:
			switch e := x[0].(type) {
			case nil:
				return 0
			case string, float64, int64, int, []any:
				return Number(e)
			}
		}
	}
	return math.NaN()
}

func numberString(s string) float64 {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return 0
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	if len(s) > 2 && s[0] == '0' {
		base := map[byte]int{'x': 16, 'X': 16, 'o': 8, 'O': 8, 'b': 2, 'B': 2}[s[1]]
		if base != 0 {
			if n, err := strconv.ParseUint(s[2:], base, 64); err == nil && !strings.Contains(s, "_") {
				return float64(n)
			}
			return math.NaN()
		}
	}
	// Only what a JS decimal literal may hold: ParseFloat alone would also
	// take "inf", "nan", hex floats and underscores.
	if strings.Trim(s, "0123456789+-.eE") != "" {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return f // ±Inf or 0, as JS rounds
		}
		return math.NaN()
	}
	return f
}
