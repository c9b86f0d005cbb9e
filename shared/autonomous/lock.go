package autonomous

import (
	"time"

	"cloud.google.com/go/firestore"
)

// LockRef is sites/{siteId}/cortex-state/lock.
func LockRef(fs *firestore.Client, siteID string) *firestore.DocumentRef {
	return fs.Collection("sites").Doc(siteID).Collection("cortex-state").Doc("lock")
}

// lock is the concurrency lock document: which investigations hold a slot
// since when, plus the count the original server kept.
type lock struct {
	active      int64
	holders     map[string]time.Time
	lastUpdated time.Time
}

func parseLock(d map[string]any) *lock {
	l := &lock{holders: map[string]time.Time{}}
	if d == nil {
		return l
	}
	if n, ok := number(d["activeSessions"]); ok && n > 0 {
		l.active = int64(n)
	}
	l.lastUpdated, _ = d["lastUpdated"].(time.Time)
	if hs, ok := d["holders"].(map[string]any); ok {
		for id, v := range hs {
			t, _ := v.(time.Time)
			l.holders[id] = t
		}
	}
	// Every holder is a slot, whatever a hand edit left in the count.
	l.active = max(l.active, int64(len(l.holders)))
	return l
}

// expire drops dead slots: holders older than ReclaimAfter, and the
// anonymous slots (counted, no holder: the original server's) once the lock
// has been untouched for ReclaimAfter. It returns the dropped holders.
func (l *lock) expire(now time.Time) []string {
	cutoff := now.Add(-ReclaimAfter)
	var dropped []string
	for id, t := range l.holders {
		if t.Before(cutoff) {
			dropped = append(dropped, id)
			l.release(id)
		}
	}
	if anon := l.active - int64(len(l.holders)); anon > 0 && l.lastUpdated.Before(cutoff) {
		l.active = int64(len(l.holders))
	}
	return dropped
}

func (l *lock) holds(id string) bool { _, ok := l.holders[id]; return ok }

func (l *lock) take(id string, now time.Time) {
	if !l.holds(id) {
		l.active++
	}
	l.holders[id] = now
}

// release gives id's slot back; false when id holds none (already given
// back or reclaimed), so a slot is never given back twice.
func (l *lock) release(id string) bool {
	if !l.holds(id) {
		return false
	}
	delete(l.holders, id)
	l.active = max(0, l.active-1)
	return true
}

func (l *lock) doc(now time.Time) map[string]any {
	hs := make(map[string]any, len(l.holders))
	for id, t := range l.holders {
		hs[id] = t
	}
	return map[string]any{"activeSessions": l.active, "lastUpdated": now, "holders": hs}
}
