package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/registry"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
)

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// The committed firebase.json must be exactly what the generator writes.
func TestFirebaseJSONInSync(t *testing.T) {
	root := moduleRoot(t)
	cur, err := os.ReadFile(filepath.Join(root, "firebase.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := rewriteFirebaseJSON(cur, hostingFor(registry.Of(fn.HTTP), defaultRegion))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cur, want) {
		t.Fatalf("firebase.json is stale: run `go run ./scripts/deploy hosting`\n--- want ---\n%s", want)
	}
}

func TestHostingRewrites(t *testing.T) {
	src := []byte(`{
  "firestore": {
    "rules": "firestore.rules"
  },
  "hosting": {"public": "old", "rewrites": []},
  "emulators": {
    "auth": { "host": "127.0.0.1", "port": 18099 }
  }
}
`)
	out, err := rewriteFirebaseJSON(src, hostingFor(registry.Of(fn.HTTP), "europe-west1"))
	if err != nil {
		t.Fatal(err)
	}
	// Other keys keep their text and order; hosting stays in place.
	if !bytes.Contains(out, []byte("{\n  \"firestore\": {\n    \"rules\": \"firestore.rules\"\n  },\n  \"hosting\": {\n    \"public\": \"public\",")) ||
		!bytes.Contains(out, []byte("  \"emulators\": {\n    \"auth\": { \"host\": \"127.0.0.1\", \"port\": 18099 }\n  }\n}\n")) {
		t.Fatalf("other keys not preserved:\n%s", out)
	}
	again, err := rewriteFirebaseJSON(out, hostingFor(registry.Of(fn.HTTP), "europe-west1"))
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("not idempotent (err %v)", err)
	}

	var doc struct {
		Hosting struct {
			Public   string
			Rewrites []struct {
				Source string
				Run    struct{ ServiceID, Region string }
			}
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Hosting.Public != "public" {
		t.Errorf("public = %q", doc.Hosting.Public)
	}
	i := 0
	for _, f := range registry.Of(fn.HTTP) {
		for _, p := range f.Paths {
			if i >= len(doc.Hosting.Rewrites) {
				t.Fatalf("missing rewrite for %s", p)
			}
			r := doc.Hosting.Rewrites[i]
			if r.Source != p || r.Run.ServiceID != f.Name || r.Run.Region != "europe-west1" {
				t.Errorf("rewrite %d = %+v, want %s -> %s", i, r, p, f.Name)
			}
			i++
		}
	}
	if i != len(doc.Hosting.Rewrites) {
		t.Errorf("%d rewrites, want %d (nothing beyond the table)", len(doc.Hosting.Rewrites), i)
	}

	// A file without hosting gets it appended.
	out, err = rewriteFirebaseJSON([]byte(`{"firestore": {}}`), hostingFor(registry.Of(fn.HTTP), "us-central1"))
	if err != nil || !bytes.HasPrefix(out, []byte("{\n  \"firestore\": {},\n  \"hosting\": {")) {
		t.Fatalf("append: err %v\n%s", err, out)
	}
}

func TestTablesValid(t *testing.T) {
	if err := validateTables(Targets(), SchedulerJobs); err != nil {
		t.Fatal(err)
	}
	bad := []Target{{Name: "Bad_Name", Package: "functions/x", Timeout: 30}}
	if validateTables(bad, nil) == nil {
		t.Error("upper-case name accepted")
	}
	if validateTables(nil, []SchedulerJob{{Name: "j", Schedule: "* * * * *", Path: "/api/nowhere"}}) == nil {
		t.Error("unrouted scheduler path accepted")
	}
	if validateTables(Targets(), []SchedulerJob{{Name: "j", Schedule: "* * * * *", Function: "sites"}}) == nil {
		t.Error("job calling a non-scheduled function accepted")
	}
	if validateTables(Targets(), []SchedulerJob{{Name: "j", Schedule: "* * * * *", Function: "deploymentsweeper", Path: "/api/cron/x"}}) == nil {
		t.Error("job with both Path and Function accepted")
	}
	// Every trigger and schedule of the registry is deployed, and every
	// schedule has its job.
	for _, tr := range registry.Of(fn.Firestore) {
		if tg := find(Targets(), tr.Name); tg == nil || tg.Kind != Firestore || tg.Document != tr.Document || tg.EventType != tr.EventType || tg.Retry != tr.Retry {
			t.Errorf("trigger %s: target %+v", tr.Name, tg)
		}
	}
	for _, sc := range registry.Of(fn.Scheduled) {
		if tg := find(Targets(), sc.Name); tg == nil || tg.Kind != Scheduled || tg.Timeout != int(sc.Timeout/time.Second) {
			t.Errorf("schedule %s: target %+v", sc.Name, tg)
		}
		found := false
		for _, j := range SchedulerJobs {
			found = found || (j.Function == sc.Name && j.Schedule == sc.Cron)
		}
		if !found {
			t.Errorf("schedule %s has no scheduler job", sc.Name)
		}
	}
}

func find(ts []Target, name string) *Target {
	for i := range ts {
		if ts[i].Name == name {
			return &ts[i]
		}
	}
	return nil
}

func testOptions(t *testing.T, stageRoot string) *Options {
	t.Helper()
	o := &Options{
		Root:           moduleRoot(t),
		StageRoot:      stageRoot,
		Project:        "owlette-prod",
		Region:         "europe-west1",
		ServiceAccount: "api@owlette-prod.iam.gserviceaccount.com",
		SecretIDs:      map[string]string{"RESEND_API_KEY": "resend-key:3"},
		DryRun:         true,

		FirestoreLocation: "eur3",
		SchedulerSA:       "cron@owlette-prod.iam.gserviceaccount.com",
	}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDryRunCommands(t *testing.T) {
	stageRoot := t.TempDir()
	o := testOptions(t, stageRoot)
	var out bytes.Buffer
	o.Out = &out
	steps, err := planFunctions(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := execute(context.Background(), o, steps); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")

	targets := Targets()
	if len(lines) != len(targets)+len(SchedulerJobs) {
		t.Fatalf("%d lines for %d functions + %d jobs:\n%s", len(lines), len(targets), len(SchedulerJobs), out.String())
	}
	for i, tg := range targets {
		if !strings.HasPrefix(lines[i], "gcloud functions deploy "+tg.Name+" --gen2 ") {
			t.Errorf("line %d is not the deploy of %s: %s", i, tg.Name, lines[i])
		}
		if _, err := os.Stat(filepath.Join(stageRoot, tg.Name)); err != nil {
			t.Errorf("%s not staged: %v", tg.Name, err)
		}
	}

	want := "gcloud functions deploy commands --gen2 --runtime=go126 --region=europe-west1 --project=owlette-prod" +
		" --source=" + filepath.Join(stageRoot, "commands") +
		" --entry-point=commands --trigger-http --allow-unauthenticated --timeout=60s --concurrency=80 --cpu=1" +
		" --memory=512Mi --min-instances=0 --max-instances=10" +
		" --set-env-vars=GOOGLE_CLOUD_PROJECT=owlette-prod,OWLETTE_ENV=production" +
		// Each function gets only its own secrets (DECISIONS §4).
		" --set-secrets=SESSION_SECRET=session-secret:latest" +
		" --service-account=api@owlette-prod.iam.gserviceaccount.com --quiet"
	// The deployment-status trigger (datamodel.md §7.1): Eventarc on every
	// write of a machine's commands/completed document, retried on failure.
	wantTrigger := "gcloud functions deploy deploymentstatus --gen2 --runtime=go126 --region=europe-west1 --project=owlette-prod" +
		" --source=" + filepath.Join(stageRoot, "deploymentstatus") +
		" --entry-point=deploymentstatus --trigger-location=eur3" +
		" --trigger-event-filters=type=google.cloud.firestore.document.v1.written" +
		" '--trigger-event-filters=database=(default)'" +
		" '--trigger-event-filters-path-pattern=document=sites/{siteId}/machines/{machineId}/commands/completed'" +
		" --retry --timeout=60s --concurrency=80 --cpu=1 --memory=512Mi --min-instances=0 --max-instances=10" +
		" --set-env-vars=GOOGLE_CLOUD_PROJECT=owlette-prod,OWLETTE_ENV=production" +
		" --service-account=api@owlette-prod.iam.gserviceaccount.com --trigger-service-account=api@owlette-prod.iam.gserviceaccount.com --quiet"
	// The sweeper (§7.2): private HTTP function, invokable by the scheduler's
	// identity only, which it also checks itself.
	sweeperURL := "https://europe-west1-owlette-prod.cloudfunctions.net/deploymentsweeper"
	wantSweeper := "gcloud functions deploy deploymentsweeper --gen2 --runtime=go126 --region=europe-west1 --project=owlette-prod" +
		" --source=" + filepath.Join(stageRoot, "deploymentsweeper") +
		" --entry-point=deploymentsweeper --trigger-http --no-allow-unauthenticated --timeout=60s --concurrency=80 --cpu=1" +
		" --memory=512Mi --min-instances=0 --max-instances=10" +
		" --set-env-vars=GOOGLE_CLOUD_PROJECT=owlette-prod,OWLETTE_ENV=production," +
		"SCHEDULER_SERVICE_ACCOUNT=cron@owlette-prod.iam.gserviceaccount.com,SCHEDULER_AUDIENCE=" + sweeperURL +
		" --set-secrets=CRON_SECRET=cron-secret:latest" +
		" --service-account=api@owlette-prod.iam.gserviceaccount.com --quiet" +
		" && gcloud functions add-invoker-policy-binding deploymentsweeper --region=europe-west1 --project=owlette-prod" +
		" --member=serviceAccount:cron@owlette-prod.iam.gserviceaccount.com --quiet"
	jobArgs := " deploymentsweeper --location=europe-west1 --project=owlette-prod '--schedule=*/5 * * * *' --time-zone=Etc/UTC" +
		" --uri=" + sweeperURL + " --http-method=POST --oidc-service-account-email=cron@owlette-prod.iam.gserviceaccount.com" +
		" --oidc-token-audience=" + sweeperURL + " --quiet"
	wantJob := "if gcloud scheduler jobs describe deploymentsweeper --location=europe-west1 --project=owlette-prod >/dev/null 2>&1; then " +
		"gcloud scheduler jobs update http" + jobArgs + "; else gcloud scheduler jobs create http" + jobArgs + "; fi"
	for prefix, want := range map[string]string{
		"gcloud functions deploy commands ":                    want,
		"gcloud functions deploy deploymentstatus ":            wantTrigger,
		"gcloud functions deploy deploymentsweeper ":           wantSweeper,
		"if gcloud scheduler jobs describe deploymentsweeper ": wantJob,
	} {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				found = true
				if l != want {
					t.Errorf("%s…:\n got %s\nwant %s", prefix, l, want)
				}
			}
		}
		if !found {
			t.Errorf("no line %s…", prefix)
		}
	}

	// Both need their flag.
	for _, c := range []struct {
		unset func(*Options)
		flag  string
	}{
		{func(o *Options) { o.FirestoreLocation = "" }, "-firestore-location"},
		{func(o *Options) { o.SchedulerSA = "" }, "-scheduler-service-account"},
	} {
		o := testOptions(t, t.TempDir())
		c.unset(o)
		if _, err := planFunctions(o); err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("without %s: %v", c.flag, err)
		}
	}
}

func TestDryRunAllAndOnly(t *testing.T) {
	o := testOptions(t, t.TempDir())
	var warn bytes.Buffer
	o.Region = defaultRegion // the committed rewrites are for the default region
	fnSteps, tail, err := plan(o, true, &warn)
	if err != nil {
		t.Fatal(err)
	}
	if len(fnSteps) != len(Targets())+len(SchedulerJobs) || len(tail) != 1 {
		t.Fatalf("%d function steps, %d tail steps", len(fnSteps), len(tail))
	}
	fb := tail[0].String()
	if !strings.HasSuffix(fb, "deploy --only hosting,firestore:rules,firestore:indexes,storage --project owlette-prod --non-interactive") {
		t.Errorf("firebase step: %s", fb)
	}

	o.Region = "europe-west1"
	if _, _, err := plan(o, true, &warn); err == nil || !strings.Contains(err.Error(), "-region europe-west1") {
		t.Errorf("region mismatch with firebase.json not reported: %v", err)
	}

	o.Only = []string{"deploymentsweeper"}
	steps, err := planFunctions(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Name != "deploymentsweeper" || steps[1].Name != "deploymentsweeper" || steps[1].Probe == nil {
		t.Errorf("-only deploymentsweeper: function and job expected, got %+v", steps)
	}

	o.Only = []string{"sites", "session"}
	steps, err = planFunctions(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Name != "session" || steps[1].Name != "sites" {
		t.Errorf("-only: %+v", steps)
	}
	o.Only = []string{"nope"}
	if _, err := planFunctions(o); err == nil {
		t.Error("unknown -only name accepted")
	}
}

// The extension points produce the commands documented by gcloud.
func TestEventAndSchedulerSteps(t *testing.T) {
	o := testOptions(t, t.TempDir())
	o.FirestoreLocation = "eur3"
	o.SchedulerSA = "cron@owlette-prod.iam.gserviceaccount.com"
	ev := o.deployStep(Target{Name: "webhookdelivery", Package: "functions/webhookdelivery", Timeout: 120, Kind: Firestore,
		EventType: "google.cloud.firestore.document.v1.created", Document: "sites/{siteId}/webhook_queue/{jobId}", Retry: true}, ".deploy/webhookdelivery")
	s := ev.String()
	for _, part := range []string{
		" --trigger-location=eur3 --trigger-event-filters=type=google.cloud.firestore.document.v1.created",
		" '--trigger-event-filters=database=(default)'",
		" '--trigger-event-filters-path-pattern=document=sites/{siteId}/webhook_queue/{jobId}' --retry --timeout=120s",
		" --trigger-service-account=api@owlette-prod.iam.gserviceaccount.com",
	} {
		if !strings.Contains(s, part) {
			t.Errorf("event deploy lacks %q:\n%s", part, s)
		}
	}
	if strings.Contains(s, "--allow-unauthenticated") || strings.Contains(s, "--trigger-http") {
		t.Errorf("event function deployed as HTTP: %s", s)
	}

	job := o.schedulerStep(SchedulerJob{Name: "health-check", Schedule: "*/5 * * * *", Path: "/api/cron/health-check"})
	want := "if gcloud scheduler jobs describe health-check --location=europe-west1 --project=owlette-prod >/dev/null 2>&1; then " +
		"gcloud scheduler jobs update http health-check --location=europe-west1 --project=owlette-prod '--schedule=*/5 * * * *' --time-zone=Etc/UTC --uri=https://owlette-prod.web.app/api/cron/health-check --http-method=GET --oidc-service-account-email=cron@owlette-prod.iam.gserviceaccount.com --oidc-token-audience=https://owlette-prod.web.app/api/cron/health-check --quiet; else " +
		"gcloud scheduler jobs create http health-check --location=europe-west1 --project=owlette-prod '--schedule=*/5 * * * *' --time-zone=Etc/UTC --uri=https://owlette-prod.web.app/api/cron/health-check --http-method=GET --oidc-service-account-email=cron@owlette-prod.iam.gserviceaccount.com --oidc-token-audience=https://owlette-prod.web.app/api/cron/health-check --quiet; fi"
	if job.String() != want {
		t.Errorf("scheduler step:\n got %s\nwant %s", job.String(), want)
	}
}

// stagedTarget picks a real function package to stage (sites preferred). While
// none exists yet it builds a throw-away module root in a temp dir holding the
// real go.mod, go.sum and shared/ plus a small function package.
func stagedTarget(t *testing.T) (root string, tg Target) {
	root = moduleRoot(t)
	var fallback *Target
	for _, x := range Targets() {
		if ok, _ := hasGoFiles(filepath.Join(root, x.Package)); ok {
			if x.Name == "sites" {
				return root, x
			}
			if fallback == nil {
				x := x
				fallback = &x
			}
		}
	}
	if fallback != nil {
		return root, *fallback
	}
	t.Log("no functions/ package exists yet: staging a throw-away one")
	tmp := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := copyFile(filepath.Join(root, f), filepath.Join(tmp, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyTree(filepath.Join(root, "shared"), filepath.Join(tmp, "shared")); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(tmp, "functions", "throwaway")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(pkg, "testdata"), 0o755))
	must(os.WriteFile(filepath.Join(pkg, "throwaway.go"), []byte(`package throwaway

import (
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/owlette/server/shared/routes"
)

func init() {
	functions.HTTP("throwaway", func(w http.ResponseWriter, r *http.Request) {
		if routes.Match("/api/**", r.URL.Path) {
			w.Write([]byte("api"))
		}
	})
}
`), 0o644))
	must(os.WriteFile(filepath.Join(pkg, "throwaway_test.go"), []byte("package throwaway\n\nimport \"does/not/exist\"\n"), 0o644))
	must(os.WriteFile(filepath.Join(pkg, "testdata", "x.go"), []byte("package broken\n\nthis is not go\n"), 0o644))
	return tmp, Target{Name: "throwaway", Package: "functions/throwaway", Timeout: 30}
}

// The staged upload compiles on its own: only go.mod, go.sum, shared/, the
// function package and the generated root file, with the module cache and no
// network.
func TestStagedUploadBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a staged copy")
	}
	root, tg := stagedTarget(t)
	dir, err := stage(root, t.TempDir(), tg)
	if err != nil {
		t.Fatal(err)
	}

	top, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range top {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != ".gcloudignore function.go functions go.mod go.sum shared" {
		t.Errorf("staged root holds %s", got)
	}
	fns, _ := os.ReadDir(filepath.Join(dir, "functions"))
	if len(fns) != 1 {
		t.Errorf("functions/ holds %d packages, want only %s", len(fns), tg.Package)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, "_test.go") || d.Name() == "testdata") {
			t.Errorf("staged %s", p)
		}
		return nil
	})
	src, _ := os.ReadFile(filepath.Join(dir, "function.go"))
	for _, imp := range []string{
		`_ "github.com/GoogleCloudPlatform/functions-framework-go/functions"`,
		`_ "github.com/owlette/server/` + tg.Package + `"`,
		"package function\n", "Code generated",
	} {
		if !bytes.Contains(src, []byte(imp)) {
			t.Errorf("function.go lacks %s:\n%s", imp, src)
		}
	}

	for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}, {"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "GOPROXY=off", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in the staged dir: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "list" {
			if !bytes.Contains(out, []byte("github.com/owlette/server/"+tg.Package+"\n")) {
				t.Errorf("root package does not import %s:\n%s", tg.Package, out)
			}
		}
	}
}

// Outside dry-run, steps run (create-or-update picks by the probe) and a
// failure is reported by name after the others finished.
func TestExecuteRuns(t *testing.T) {
	for _, parallel := range []int{1, 3} {
		var out bytes.Buffer
		o := &Options{Root: t.TempDir(), Parallel: parallel, Out: &out}
		steps := []Step{
			{Name: "plain", Argv: []string{"sh", "-c", "echo ran-plain"}},
			{Name: "exists", Probe: []string{"true"}, Update: []string{"sh", "-c", "echo updated"}, Argv: []string{"sh", "-c", "echo created"}},
			{Name: "missing", Probe: []string{"false"}, Update: []string{"sh", "-c", "echo updated-2"}, Argv: []string{"sh", "-c", "echo created-2"}},
			{Name: "broken", Argv: []string{"false"}},
		}
		err := execute(context.Background(), o, steps)
		if err == nil || err.Error() != "failed: broken" {
			t.Errorf("parallel %d: err = %v", parallel, err)
		}
		s := out.String()
		for _, want := range []string{"ran-plain\n", "\nupdated\n", "created-2\n", "!!! broken failed"} {
			if !strings.Contains(s, want) {
				t.Errorf("parallel %d: output lacks %q:\n%s", parallel, want, s)
			}
		}
		var ran []string // output without the echoed command lines
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "$ ") {
				ran = append(ran, l)
			}
		}
		if r := strings.Join(ran, "\n"); strings.Contains(r, "\ncreated\n") || strings.Contains(r, "updated-2") {
			t.Errorf("parallel %d: probe ignored:\n%s", parallel, s)
		}
	}
}

// TestDryRunStagesAndCompilesEveryFunction: the dry run of `deploy all`
// stages every function of the registry, and only those, and each staged
// upload compiles on its own. A staged upload is go.mod, go.sum, shared/,
// its own functions/<pkg>/ and a generated root file; TestStagedUploadBuilds
// compiles one such upload in isolation. Here, for every function: the
// copied files are the repository's own, byte for byte; the package needs
// nothing of the module outside shared/ and itself; and its generated root
// file compiles (all of them in one build, against the same sources, so
// the build cache serves the rest).
func TestDryRunStagesAndCompilesEveryFunction(t *testing.T) {
	o := testOptions(t, t.TempDir())
	if _, err := planFunctions(o); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(o.StageRoot)
	if err != nil {
		t.Fatal(err)
	}
	var staged []string
	for _, e := range entries {
		staged = append(staged, e.Name())
	}
	pkgs := map[string]string{}
	var want []string
	for _, tg := range Targets() {
		want = append(want, tg.Name)
		pkgs[tg.Name] = tg.Package
	}
	slices.Sort(staged)
	slices.Sort(want)
	if !slices.Equal(staged, want) {
		t.Fatalf("staged %v, want exactly the registry's %v", staged, want)
	}

	// The copies are the repository's files.
	for _, name := range staged {
		dir := filepath.Join(o.StageRoot, name)
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if rel == "function.go" || rel == ".gcloudignore" {
				return nil
			}
			got, _ := os.ReadFile(p)
			orig, err := os.ReadFile(filepath.Join(o.Root, rel))
			if err != nil || !bytes.Equal(got, orig) {
				t.Errorf("%s: staged %s is not the repository's file (%v)", name, rel, err)
			}
			return nil
		})
	}

	// Each package needs only shared/ and itself of the module.
	args := []string{"list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}"}
	for _, p := range pkgs {
		args = append(args, "./"+p)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = o.Root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		self := f[0]
		for _, dep := range f[1:] {
			if strings.HasPrefix(dep, modulePath+"/") && !strings.HasPrefix(dep, modulePath+"/shared/") && dep != self {
				t.Errorf("%s imports %s, which its upload does not carry", self, dep)
			}
		}
	}

	// Every generated root file compiles against those sources.
	check, err := os.MkdirTemp(filepath.Join(o.Root, "scripts", "deploy"), "stagecheck")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(check) })
	var targets []string
	for _, name := range staged {
		src, err := os.ReadFile(filepath.Join(o.StageRoot, name, "function.go"))
		if err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(check, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "function.go"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(o.Root, d)
		targets = append(targets, "./"+filepath.ToSlash(rel))
	}
	build := exec.Command("go", append([]string{"build"}, targets...)...)
	build.Dir = o.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("generated root files do not compile: %v\n%s", err, out)
	}
}

// flagValue is the value of --name=… in a deploy line ("" when absent).
func flagValue(line, name string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// names are the KEY parts of a KEY=VALUE,… list.
func names(list string) []string {
	var out []string
	for _, kv := range strings.Split(list, ",") {
		if k, _, _ := strings.Cut(kv, "="); k != "" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Each function gets exactly its own configuration (DECISIONS §4): the
// variables and secrets of the groups its Spec declares, and of the -env
// variables only those it reads. sites, say, gets no e-mail or LLM key, no
// bucket and no scheduler identity.
func TestEachFunctionGetsOnlyItsOwnConfiguration(t *testing.T) {
	o := testOptions(t, t.TempDir())
	o.ExtraEnv = []string{
		"BASE_URL=https://owlette.app", "RESEND_FROM_EMAIL=alerts@owlette.app", "ADMIN_EMAIL_PROD=ops@owlette.app",
		"TD_ARCHIVE_URL=https://example.test/archive", "WEBAUTHN_RP_ID=owlette.app", "STORAGE_SIGNING_ACCOUNT=signer@p.iam.gserviceaccount.com",
		"ANTHROPIC_BASE_URL=https://llm.example.test", "LOG_LEVEL=warn", "TRUSTED_PROXY_HOPS=2",
	}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o.Out = &out
	o.stageFn = func(_, stageRoot string, t Target) (string, error) { return filepath.Join(stageRoot, t.Name), nil }
	steps, err := planFunctions(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := execute(context.Background(), o, steps); err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[0] == "gcloud" && f[2] == "deploy" {
			lines[f[3]] = l
		}
	}
	for _, s := range registry.All {
		line, ok := lines[s.Name]
		if !ok {
			t.Errorf("%s is not deployed", s.Name)
			continue
		}
		wantEnv := []string{"GOOGLE_CLOUD_PROJECT", "OWLETTE_ENV", "LOG_LEVEL", "TRUSTED_PROXY_HOPS"}
		if s.Config.Has(config.Storage) {
			wantEnv = append(wantEnv, "STORAGE_BUCKET")
		}
		if s.Config.Has(config.Scheduler) {
			wantEnv = append(wantEnv, "SCHEDULER_SERVICE_ACCOUNT", "SCHEDULER_AUDIENCE")
		}
		for _, kv := range o.ExtraEnv {
			if k, _, _ := strings.Cut(kv, "="); slices.Contains(s.Config.Vars(), k) {
				wantEnv = append(wantEnv, k)
			}
		}
		slices.Sort(wantEnv)
		if got := names(flagValue(line, "set-env-vars")); !slices.Equal(got, wantEnv) {
			t.Errorf("%s (%v): env %v, want %v", s.Name, s.Config, got, wantEnv)
		}
		wantSecrets := slices.Sorted(slices.Values(s.Secrets()))
		if got := names(flagValue(line, "set-secrets")); !slices.Equal(got, wantSecrets) {
			t.Errorf("%s (%v): secrets %v, want %v", s.Name, s.Config, got, wantSecrets)
		}
	}

	// What that means for a few of them.
	for name, want := range map[string]struct{ env, secrets string }{
		"sites":      {"GOOGLE_CLOUD_PROJECT=owlette-prod,OWLETTE_ENV=production,LOG_LEVEL=warn,TRUSTED_PROXY_HOPS=2", "SESSION_SECRET=session-secret:latest"},
		"passkeys":   {"GOOGLE_CLOUD_PROJECT=owlette-prod,OWLETTE_ENV=production,WEBAUTHN_RP_ID=owlette.app,LOG_LEVEL=warn,TRUSTED_PROXY_HOPS=2", "SESSION_SECRET=session-secret:latest"},
		"installers": {"GOOGLE_CLOUD_PROJECT=owlette-prod,OWLETTE_ENV=production,STORAGE_BUCKET=owlette-prod.firebasestorage.app,STORAGE_SIGNING_ACCOUNT=signer@p.iam.gserviceaccount.com,LOG_LEVEL=warn,TRUSTED_PROXY_HOPS=2", "SESSION_SECRET=session-secret:latest"},
		"notifications": {"GOOGLE_CLOUD_PROJECT=owlette-prod,OWLETTE_ENV=production,BASE_URL=https://owlette.app,RESEND_FROM_EMAIL=alerts@owlette.app,ADMIN_EMAIL_PROD=ops@owlette.app,LOG_LEVEL=warn,TRUSTED_PROXY_HOPS=2",
			"CRON_SECRET=cron-secret:latest,RESEND_API_KEY=resend-key:3"},
		"cortexinvestigation": {"GOOGLE_CLOUD_PROJECT=owlette-prod,OWLETTE_ENV=production,BASE_URL=https://owlette.app,RESEND_FROM_EMAIL=alerts@owlette.app,ADMIN_EMAIL_PROD=ops@owlette.app,ANTHROPIC_BASE_URL=https://llm.example.test,LOG_LEVEL=warn,TRUSTED_PROXY_HOPS=2",
			"MFA_ENCRYPTION_KEY=mfa-encryption-key:latest,LLM_ENCRYPTION_KEY=llm-encryption-key:latest,RESEND_API_KEY=resend-key:3"},
		"deploymentstatus": {"GOOGLE_CLOUD_PROJECT=owlette-prod,OWLETTE_ENV=production,LOG_LEVEL=warn,TRUSTED_PROXY_HOPS=2", ""},
	} {
		line := lines[name]
		if got := flagValue(line, "set-env-vars"); got != want.env {
			t.Errorf("%s env:\n got %s\nwant %s", name, got, want.env)
		}
		if got := flagValue(line, "set-secrets"); got != want.secrets {
			t.Errorf("%s secrets:\n got %s\nwant %s", name, got, want.secrets)
		}
	}
}

// -env takes only variables some function reads, and neither secrets nor
// what the deploy sets itself.
func TestExtraEnvChecked(t *testing.T) {
	for _, kv := range []string{"RESEND_API_KEY=re_x", "SESSION_SECRET=x", "STORAGE_BUCKET=b", "OWLETTE_ENV=local",
		"FIRESTORE_EMULATOR_HOST=127.0.0.1:1", "NO_SUCH_SETTING=1", "K_SERVICE=x"} {
		o := &Options{Root: moduleRoot(t), Project: "p", ExtraEnv: []string{kv}}
		if err := o.defaults(); err == nil {
			t.Errorf("-env %s accepted", kv)
		}
	}
	o := &Options{Root: moduleRoot(t), Project: "p", ExtraEnv: []string{"BASE_URL=https://x", "LOG_LEVEL=debug", "WEBHOOK_ALLOW_LOOPBACK=false"}}
	if err := o.defaults(); err != nil {
		t.Error(err)
	}
}
