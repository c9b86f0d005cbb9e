package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sort"
	"time"
)

// configLoop polls the config doc (2 s, ×1.3 to 10 s) and applies changes
// that are not its own last upload.
func (a *Agent) configLoop(ctx context.Context) {
	minI, maxI := a.cfg.scaled(a.cfg.ConfigPollMin), a.cfg.scaled(a.cfg.ConfigPollMax)
	interval, errWait := minI, a.cfg.scaled(a.cfg.ListenerBackoffMin)
	for {
		if sleep(ctx, interval) != nil {
			return
		}
		doc, err := a.fs.Get(ctx, "get-config", a.configPath())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.failed("config poll", err)
			if sleep(ctx, errWait) != nil {
				return
			}
			errWait = min(errWait*2, a.cfg.scaled(a.cfg.ListenerBackoffMax))
			continue
		}
		errWait = a.cfg.scaled(a.cfg.ListenerBackoffMin)
		if doc == nil {
			interval = min(time.Duration(float64(interval)*1.3), maxI)
			continue
		}
		h := hashJSON(doc.Fields)
		if h == a.configHash {
			interval = min(time.Duration(float64(interval)*1.3), maxI)
			continue
		}
		a.configHash = h
		interval = minI
		if h == a.uploadedHash {
			continue
		}
		if procs, ok := doc.Fields["processes"].([]any); ok {
			a.m.applyConfig(procs)
			a.log.Info("config applied", "processes", len(procs))
			a.cfg.emit(Event{Kind: EventConfigApplied})
			a.Heartbeat()
		}
	}
}

// housekeepingLoop deletes pending entries older than 1 h and completed
// entries older than 24 h, 50 fields per write, first at once then every
// 600 s.
func (a *Agent) housekeepingLoop(ctx context.Context) {
	for {
		if err := a.housekeep(ctx); err != nil && ctx.Err() == nil {
			a.failed("housekeeping", err)
		}
		if sleep(ctx, a.cfg.scaled(a.cfg.HousekeepingEvery)) != nil {
			return
		}
	}
}

func (a *Agent) housekeep(ctx context.Context) error {
	now := time.Now()
	for _, d := range []struct {
		path string
		ttl  time.Duration
		keys []string
	}{{a.pendingPath(), a.cfg.PendingTTL, []string{"timestamp"}}, {a.completedPath(), a.cfg.CompletedTTL, []string{"completedAt", "timestamp"}}} {
		doc, err := a.fs.Get(ctx, "housekeeping-get", d.path)
		if err != nil || doc == nil {
			if err != nil {
				return err
			}
			continue
		}
		var old []string
		for id, v := range doc.Fields {
			entry, ok := v.(map[string]any)
			if !ok {
				continue
			}
			for _, k := range d.keys {
				if t, ok := parseTime(entry[k]); ok {
					if now.Sub(t) > d.ttl {
						old = append(old, FieldPath{id}.String())
					}
					break
				}
			}
		}
		sort.Strings(old)
		for len(old) > 0 {
			n := min(50, len(old))
			if err := a.fs.DeleteFields(ctx, "housekeeping-delete", d.path, old[:n]); err != nil {
				return err
			}
			old = old[n:]
		}
	}
	return nil
}

// parseTime reads a Firestore timestamp, an ISO string, or a number as ms.
func parseTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case int64:
		return time.UnixMilli(x), true
	case float64:
		return time.UnixMilli(int64(x)), true
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		return t, err == nil
	}
	return time.Time{}, false
}

// logEvent adds sites/{s}/logs/{uuid4} (§2.11).
func (a *Agent) logEvent(ctx context.Context, action, level, processName, details string) error {
	data := map[string]any{
		"timestamp": ServerTimestamp, "action": action, "level": level,
		"machineId": a.cfg.MachineID, "machineName": a.cfg.MachineID,
	}
	if processName != "" {
		data["processName"] = processName
	}
	if details != "" {
		data["details"] = details
	}
	return a.fs.Commit(ctx, "log-event", a.fs.ReplaceWrite("sites/"+a.site+"/logs/"+uuid4(), data))
}

// syncInventory rewrites installed_software when the name:version set
// changed (or when forced): delete every doc, then write every doc.
func (a *Agent) syncInventory(ctx context.Context, force bool) error {
	a.invMu.Lock()
	defer a.invMu.Unlock()
	docs, hash := a.m.softwareDocs()
	if !force && hash == a.invHash {
		return nil
	}
	coll := a.machinePath() + "/installed_software"
	existing, err := a.fs.List(ctx, "inventory-list", coll)
	if err != nil {
		return err
	}
	var dels, sets []Write
	for _, d := range existing {
		dels = append(dels, Write{Delete: d.Name})
	}
	ids := make([]string, 0, len(docs))
	for id := range docs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		data := docs[id]
		data["detected_at"] = ServerTimestamp
		sets = append(sets, a.fs.ReplaceWrite(coll+"/"+id, data))
	}
	// batchWrite in chunks of 500, falling back to single writes as the
	// agent does (the Firestore emulator only takes batchWrite from admins).
	for _, ws := range [][]Write{dels, sets} {
		for len(ws) > 0 {
			n := min(500, len(ws))
			if err := a.fs.BatchWrite(ctx, "inventory-batch", ws[:n]...); err != nil {
				if ctx.Err() != nil || errors.Is(err, ErrUnpaired) {
					return err
				}
				for _, w := range ws[:n] {
					if err := a.fs.Commit(ctx, "inventory-write", w); err != nil {
						return err
					}
				}
			}
			ws = ws[n:]
		}
	}
	a.invHash = hash
	return nil
}

func uuid4() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
