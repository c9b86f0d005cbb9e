package logs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlette/server/functions/logs"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
)

const base = "/api/admin/logs"

// t0 is the time of the first seeded log.
var t0 = time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)

// logDoc is one seeded log document.
type logDoc struct {
	id, action, level, machine string
	at                         time.Time
}

var (
	actions = []string{"process_started", "process_crash", "agent_started", "command_executed"}
	levels  = []string{"info", "info", "warning", "error", "info"}
)

// generate returns n agent-shaped logs, one a minute from t0, over three
// machines, four actions and three levels.
func generate(n int) []logDoc {
	out := make([]logDoc, n)
	for i := range out {
		out[i] = logDoc{
			id:      fmt.Sprintf("log-%04d", i),
			action:  actions[i%len(actions)],
			level:   levels[i%len(levels)],
			machine: fmt.Sprintf("ws-%d", i%3+1),
			at:      t0.Add(time.Duration(i) * time.Minute).Add(123456 * time.Microsecond),
		}
	}
	return out
}

func seed(t testing.TB, e *apptest.Env, site string, docs []logDoc) {
	t.Helper()
	ctx := context.Background()
	b := e.FS.Batch()
	for i, d := range docs {
		data := map[string]any{
			"timestamp": d.at, "action": d.action, "level": d.level, "machineId": d.machine, "machineName": d.machine,
			"details": "Process " + d.action, "userId": "",
		}
		if d.action != "agent_started" {
			data["processName"] = "TouchDesigner"
		}
		b.Set(e.FS.Doc("sites/"+site+"/logs/"+d.id), data)
		if (i+1)%400 == 0 || i == len(docs)-1 {
			if _, err := b.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			b = e.FS.Batch()
		}
	}
}

// expect filters and orders the generated logs as the endpoint must.
func expect(docs []logDoc, action, level, machine string, since *time.Time, limit int) []string {
	var out []logDoc
	for _, d := range docs {
		if (action == "" || d.action == action) && (level == "" || d.level == level || (level == "warn" && d.level == "warning")) &&
			(machine == "" || d.machine == machine) && (since == nil || d.at.After(*since)) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b logDoc) int { return b.at.Compare(a.at) })
	ids := []string{}
	for _, d := range out[:min(limit, len(out))] {
		ids = append(ids, d.id)
	}
	return ids
}

func ids(t testing.TB, r *apptest.Response) []string {
	t.Helper()
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	out := []string{}
	ls, _ := r.JSON["logs"].([]any)
	for _, l := range ls {
		out = append(out, l.(map[string]any)["id"].(string))
	}
	return out
}

type fixture struct {
	*apptest.Env
	site, otherSite                string
	admin, member, owner, stranger *apptest.User
}

func newFixture(t testing.TB, groups ...app.Register) *fixture {
	t.Helper()
	if len(groups) == 0 {
		groups = []app.Register{logs.Register}
	}
	e := apptest.New(t, groups...)
	f := &fixture{Env: e, site: testenv.UniqueID("site-"), otherSite: testenv.UniqueID("other-")}
	f.admin, f.member, f.owner, f.stranger = e.Admin(), e.Member(f.site), e.Member(), e.Member(f.otherSite)
	e.Site(f.site, f.owner.UID)
	e.Site(f.otherSite, "")
	return f
}

func TestCredentials(t *testing.T) {
	f := newFixture(t)
	seed(t, f.Env, f.site, generate(3))
	seed(t, f.Env, f.otherSite, []logDoc{{id: "other-log", action: "x", level: "info", machine: "m", at: t0}})
	u := base + "?siteId=" + f.site
	agent := f.IDTokenFor("agent_"+f.site+"_m1", map[string]any{"role": "agent", "site_id": f.site, "machine_id": "m1", "version": "2.4.0"})
	ok := map[string]any{"success": true, "logs.0.id": "log-0002"}
	f.Run(t, []apptest.Scenario{
		{Name: "none", Method: "GET", Path: u, Cred: apptest.NoCred, Status: 401},
		{Name: "forged bearer", Method: "GET", Path: u, Cred: apptest.WithBearer("forged.token.x"), Status: 401},
		{Name: "unknown API key", Method: "GET", Path: u, Cred: apptest.WithAPIKey("owk_nopenopenopenopenopenopenopenopenopenopenope"), Status: 401},
		{Name: "admin cookie", Method: "GET", Path: u, Cred: apptest.WithCookie(f.admin.Cookie()), Status: 200, Want: ok},
		{Name: "admin API key", Method: "GET", Path: u, Cred: apptest.WithAPIKey(f.admin.APIKey()), Status: 200, Want: ok},
		{Name: "admin ID token", Method: "GET", Path: u, Cred: apptest.WithBearer(f.admin.IDToken()), Status: 200, Want: ok},
		{Name: "admin on the other site", Method: "GET", Path: base + "?siteId=" + f.otherSite, Cred: apptest.WithAPIKey(f.admin.APIKey()), Status: 200,
			Want: map[string]any{"logs.0.id": "other-log"}, Absent: []string{"logs.1"}},
		// Logs are admin-only: site members and owners are refused (api.md §0 item 1).
		{Name: "member cookie", Method: "GET", Path: u, Cred: apptest.WithCookie(f.member.Cookie()), Status: 403, Want: map[string]any{"error": "Forbidden: admin access required"}},
		{Name: "member API key", Method: "GET", Path: u, Cred: apptest.WithAPIKey(f.member.APIKey()), Status: 403},
		{Name: "member ID token", Method: "GET", Path: u, Cred: apptest.WithBearer(f.member.IDToken()), Status: 403},
		{Name: "owner cookie", Method: "GET", Path: u, Cred: apptest.WithCookie(f.owner.Cookie()), Status: 403},
		{Name: "other-site member", Method: "GET", Path: u, Cred: apptest.WithCookie(f.stranger.Cookie()), Status: 403},
		{Name: "agent token of the site", Method: "GET", Path: u, Cred: apptest.WithBearer(agent), Status: 403},
		{Name: "unknown site", Method: "GET", Path: base + "?siteId=nope", Cred: apptest.WithCookie(f.admin.Cookie()), Status: 404, Want: map[string]any{"error": "Site not found"}},
		{Name: "missing siteId (admin)", Method: "GET", Path: base, Cred: apptest.WithCookie(f.admin.Cookie()), Status: 400, Want: map[string]any{"error": "Missing required parameter: siteId"}},
		// Order: guard before siteId.
		{Name: "missing siteId, no credential", Method: "GET", Path: base, Cred: apptest.NoCred, Status: 401},
		{Name: "missing siteId, member", Method: "GET", Path: base, Cred: apptest.WithCookie(f.member.Cookie()), Status: 403},
		{Name: "key in query refused", Method: "GET", Path: u + "&api_key=" + f.admin.APIKey(), Cred: apptest.NoCred, Status: 400},
		{Name: "wrong method", Method: "POST", Path: u, Cred: apptest.WithCookie(f.admin.Cookie()), Status: 405},
	})
}

func TestShape(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2026, 2, 3, 4, 5, 6, 789000000, time.UTC)
	ctx := context.Background()
	for id, d := range map[string]map[string]any{
		"full":   {"timestamp": at, "action": "process_crash", "level": "error", "machineId": "ws-1", "machineName": "ws-1", "processName": "TD", "details": "exit code 3", "screenshotUrl": "https://x/y.jpg"},
		"sparse": {"timestamp": at.Add(-time.Hour), "action": "", "level": "info", "machineId": "ws-1", "details": map[string]any{"legacy": true, "at": at}},
	} {
		if _, err := f.FS.Doc("sites/"+f.site+"/logs/"+id).Set(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	f.Run(t, []apptest.Scenario{{
		Name: "fields, raw timestamp, falsy as null", Method: "GET", Path: base + "?siteId=" + f.site, Cred: apptest.WithAPIKey(f.admin.APIKey()), Status: 200,
		Want: map[string]any{
			"success": true,
			"logs.0": map[string]any{
				"id": "full", "timestamp": map[string]any{"_seconds": at.Unix(), "_nanoseconds": 789000000},
				"action": "process_crash", "level": "error", "machineId": "ws-1", "processName": "TD", "details": "exit code 3",
			},
			"logs.1.id": "sparse", "logs.1.action": nil, "logs.1.processName": nil,
			"logs.1.details": map[string]any{"legacy": true, "at": map[string]any{"_seconds": at.Unix(), "_nanoseconds": 789000000}},
		},
		Absent: []string{"logs.0.machineName", "logs.0.screenshotUrl", "logs.2"},
	}})
}

// TestFilters checks every combination of action, level and machineId,
// with and without since, against the expected newest-first selection.
func TestFilters(t *testing.T) {
	f := newFixture(t)
	docs := generate(120)
	seed(t, f.Env, f.site, docs)
	runFilters(t, f, docs)
}

func runFilters(t *testing.T, f *fixture, docs []logDoc) {
	key := apptest.WithAPIKey(f.admin.APIKey())
	since := t0.Add(40*time.Minute + 123456*time.Microsecond) // exactly log-0040: strictly after
	for _, action := range []string{"", "process_crash"} {
		for _, level := range []string{"", "warning"} {
			for _, machine := range []string{"", "ws-2"} {
				for _, s := range []*time.Time{nil, &since} {
					for _, limit := range []int{0, 7} {
						q := url.Values{"siteId": {f.site}}
						for k, v := range map[string]string{"action": action, "level": level, "machineId": machine} {
							if v != "" {
								q.Set(k, v)
							}
						}
						if s != nil {
							q.Set("since", s.Format(time.RFC3339Nano))
						}
						want := logs.DefaultLimit
						if limit > 0 {
							q.Set("limit", strconv.Itoa(limit))
							want = limit
						}
						name := q.Encode()
						t.Run(name, func(t *testing.T) {
							got := ids(t, f.Do("GET", base+"?"+q.Encode(), key, nil, nil))
							exp := expect(docs, action, level, machine, s, want)
							if len(exp) == 0 {
								t.Fatalf("test data has no match for %s", name)
							}
							if !slices.Equal(got, exp) {
								t.Errorf("got %v\nwant %v", got, exp)
							}
						})
					}
				}
			}
		}
	}
}

func TestParams(t *testing.T) {
	f := newFixture(t)
	docs := generate(260)
	seed(t, f.Env, f.site, docs)
	key := apptest.WithAPIKey(f.admin.APIKey())
	count := func(n int) func(t *testing.T, r *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			if got := len(ids(t, r)); got != n {
				t.Errorf("%d logs, want %d", got, n)
			}
		}
	}
	sinceIs := func(s string, after time.Time) func(t *testing.T, r *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			want := expect(docs, "", "", "", &after, logs.MaxLimit)
			if got := ids(t, r); !slices.Equal(got, want) {
				t.Errorf("since=%s: %d logs (%v…), want %d", s, len(got), got[:min(3, len(got))], len(want))
			}
		}
	}
	u := base + "?siteId=" + f.site
	at := t0.Add(250 * time.Minute) // log-0250 (plus 0.123456 s): it and the 9 after it match
	f.Run(t, []apptest.Scenario{
		{Name: "default limit 50", Method: "GET", Path: u, Cred: key, Status: 200, Check: count(50)},
		{Name: "limit 0 means 50", Method: "GET", Path: u + "&limit=0", Cred: key, Status: 200, Check: count(50)},
		{Name: "limit not a number means 50", Method: "GET", Path: u + "&limit=abc", Cred: key, Status: 200, Check: count(50)},
		{Name: "limit parseInt prefix", Method: "GET", Path: u + "&limit=12abc", Cred: key, Status: 200, Check: count(12)},
		{Name: "limit capped at 200", Method: "GET", Path: u + "&limit=1000", Cred: key, Status: 200, Check: count(200)},
		{Name: "negative limit means 1", Method: "GET", Path: u + "&limit=-5", Cred: key, Status: 200, Check: count(1)},
		{Name: "since ISO with Z", Method: "GET", Path: u + "&since=" + at.Format(time.RFC3339), Cred: key, Status: 200, Check: sinceIs("iso", at)},
		{Name: "since ISO with offset", Method: "GET", Path: u + "&since=" + url.QueryEscape(at.In(time.FixedZone("", -5*3600)).Format(time.RFC3339)), Cred: key, Status: 200, Check: sinceIs("offset", at)},
		{Name: "since ISO with milliseconds", Method: "GET", Path: u + "&since=" + at.Format("2006-01-02T15:04:05.000Z"), Cred: key, Status: 200, Check: sinceIs("ms iso", at)},
		{Name: "since ISO without zone is UTC", Method: "GET", Path: u + "&since=" + at.Format("2006-01-02T15:04:05"), Cred: key, Status: 200, Check: sinceIs("no zone", at)},
		{Name: "since epoch ms", Method: "GET", Path: u + "&since=" + strconv.FormatInt(at.UnixMilli(), 10), Cred: key, Status: 200, Check: sinceIs("ms", at)},
		{Name: "since a date", Method: "GET", Path: u + "&since=2026-01-11", Cred: key, Status: 200, Check: count(0)},
		{Name: "since before everything", Method: "GET", Path: u + "&since=2020-01-01&limit=200", Cred: key, Status: 200, Check: count(200)},
		{Name: "since after everything", Method: "GET", Path: u + "&since=2030-01-01T00:00:00Z", Cred: key, Status: 200, Want: map[string]any{"logs": []any{}}},
		{Name: "since not a date", Method: "GET", Path: u + "&since=yesterday", Cred: key, Status: 400, Want: map[string]any{"error": logs.ErrSince.Message}},
		{Name: "since empty is no bound", Method: "GET", Path: u + "&since=", Cred: key, Status: 200, Check: count(50)},
		{Name: "level warn matches warning", Method: "GET", Path: u + "&level=warn&limit=200", Cred: key, Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				if got, want := ids(t, r), expect(docs, "", "warning", "", nil, 200); !slices.Equal(got, want) || len(want) == 0 {
					t.Errorf("%d logs, want %d", len(got), len(want))
				}
			}},
		{Name: "unknown level", Method: "GET", Path: u + "&level=debug", Cred: key, Status: 200, Want: map[string]any{"logs": []any{}}},
		{Name: "unknown machine", Method: "GET", Path: u + "&machineId=nope", Cred: key, Status: 200, Want: map[string]any{"logs": []any{}}},
		{Name: "filter value too long", Method: "GET", Path: u + "&action=" + strings.Repeat("a", 1501), Cred: key, Status: 400},
	})
}

// TestMissingIndexes makes Firestore refuse queries as it does when a
// composite index is missing (or still building): first only the queries
// with a level filter, then every composite query. Results must not change.
func TestMissingIndexes(t *testing.T) {
	docs := generate(700) // more than two pages of in-memory filtering
	for _, tc := range []struct {
		name    string
		missing func([]string) bool
	}{
		{"level indexes missing", func(fs []string) bool { return slices.Contains(fs, "level") }},
		{"every composite index missing", func(fs []string) bool { return len(fs) > 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var refused atomic.Int32
			f := newFixture(t, logs.RegisterWith(func(fs []string) bool {
				m := tc.missing(fs)
				if m {
					refused.Add(1)
				}
				return m
			}))
			seed(t, f.Env, f.site, docs)
			runFilters(t, f, docs)
			// A rare combination whose 200 newest matches span every page.
			q := "?siteId=" + f.site + "&action=process_crash&level=error&machineId=ws-3&limit=200"
			got := ids(t, f.Do("GET", base+q, apptest.WithAPIKey(f.admin.APIKey()), nil, nil))
			if want := expect(docs, "process_crash", "error", "ws-3", nil, 200); !slices.Equal(got, want) || len(want) < 10 {
				t.Errorf("got %d, want %d: %v", len(got), len(want), got)
			}
			if refused.Load() == 0 {
				t.Error("no query was refused: the fallback was not exercised")
			}
		})
	}
}

// TestIndexesDeclared: firestore.indexes.json has a composite index for
// every combination of equality filters the endpoint sends to Firestore, in
// the order it sends them, with timestamp descending last.
func TestIndexesDeclared(t *testing.T) {
	raw, err := os.ReadFile("../../firestore.indexes.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Indexes []struct {
			CollectionGroup string `json:"collectionGroup"`
			QueryScope      string `json:"queryScope"`
			Fields          []struct {
				FieldPath string `json:"fieldPath"`
				Order     string `json:"order"`
			} `json:"fields"`
		} `json:"indexes"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, ix := range file.Indexes {
		if ix.CollectionGroup != "logs" || ix.QueryScope != "COLLECTION" {
			continue
		}
		var parts []string
		for _, fl := range ix.Fields {
			parts = append(parts, fl.FieldPath+" "+fl.Order)
		}
		declared[strings.Join(parts, ", ")] = true
	}
	for mask := 1; mask < 8; mask++ {
		q := url.Values{}
		for i, fl := range []string{"action", "level", "machineId"} {
			if mask&(1<<i) != 0 {
				q.Set(fl, "x")
			}
		}
		var parts []string
		for _, fl := range logs.Filters(q) {
			parts = append(parts, fl.Field+" ASCENDING")
		}
		need := strings.Join(append(parts, "timestamp DESCENDING"), ", ")
		if !declared[need] {
			t.Errorf("firestore.indexes.json lacks logs(%s)", need)
		}
	}
}
