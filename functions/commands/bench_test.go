package commands_test

import (
	"testing"

	"github.com/owlette/server/shared/apptest"
)

// BenchmarkSend is E22 without waiting (the command is queued and the
// answer returns at once), with an admin's API key and with an admin's
// session cookie; reports CPU, Firestore RPCs and p50/p99 latency per
// request. The queue write is the one write a send must make.
//
// Run: go test ./functions/commands -run '^$' -bench '^BenchmarkSend$' -benchtime 2000x
func BenchmarkSend(b *testing.B) {
	for _, c := range apptest.Keyed {
		b.Run(c.Name, func(b *testing.B) {
			f := newFixture(b)
			body := map[string]any{"siteId": f.site, "machineId": "KIOSK-001", "command": "restart_process", "data": map[string]any{"process_name": "TouchDesigner"}}
			f.Bench(b, apptest.Load{Method: "POST", Path: apptest.Fixed("/api/admin/commands/send"), Cred: c.Cred(f.admin), Body: body})
		})
	}
}
