package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/owlette/server/shared/config"
)

// Options are the settings of one deploy run.
type Options struct {
	Root      string // module root (holds go.mod, firebase.json)
	StageRoot string // where uploads are staged; Root/.deploy by default

	Project           string
	Region            string
	ServiceAccount    string            // runtime service account (--service-account); project default when empty
	StorageBucket     string            // <project>.firebasestorage.app when empty
	MaxInstances      int               // --max-instances
	SecretIDs         map[string]string // NAME -> secret id or id:version overrides
	ExtraEnv          []string          // KEY=VALUE plain env vars, each for the functions that read KEY
	FirestoreLocation string            // Eventarc trigger location of Firestore functions
	SchedulerSA       string            // OIDC service account of scheduler jobs
	BaseURL           string            // scheduler target base; https://<project>.web.app when empty
	Only              []string          // function / job names; all when empty

	DryRun   bool
	Parallel int // concurrent gcloud deploys; 1 = sequential
	Check    bool
	Out      io.Writer

	stageFn func(root, stageRoot string, t Target) (string, error) // stage, or a test double
}

// Step is one command. When Probe is set the step is a create-or-update: run
// Probe, then Update if it succeeded and Argv if it failed. Then runs after
// that command succeeded, in order.
type Step struct {
	Name   string
	Argv   []string
	Probe  []string
	Update []string
	Then   [][]string
}

// String is the step as one shell line.
func (s Step) String() string {
	line := shellJoin(s.Argv)
	if s.Probe != nil {
		line = "if " + shellJoin(s.Probe) + " >/dev/null 2>&1; then " + shellJoin(s.Update) + "; else " + shellJoin(s.Argv) + "; fi"
	}
	for _, then := range s.Then {
		line += " && " + shellJoin(then)
	}
	return line
}

func (o *Options) defaults() error {
	if o.Project == "" {
		return fmt.Errorf("-project is required")
	}
	if o.Region == "" {
		o.Region = defaultRegion
	}
	if o.StageRoot == "" {
		o.StageRoot = filepath.Join(o.Root, ".deploy")
	}
	if o.StorageBucket == "" {
		o.StorageBucket = o.Project + ".firebasestorage.app"
	}
	if o.MaxInstances == 0 {
		o.MaxInstances = defaultMaxIns
	}
	if o.Parallel < 1 {
		o.Parallel = 1
	}
	if o.BaseURL == "" {
		o.BaseURL = "https://" + o.Project + ".web.app"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	for _, kv := range o.ExtraEnv {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || strings.Contains(kv, ",") {
			return fmt.Errorf("-env %q: want KEY=VALUE without commas", kv)
		}
		if err := checkExtraEnv(name); err != nil {
			return fmt.Errorf("-env %s: %w", name, err)
		}
	}
	for name := range o.SecretIDs {
		if !contains(secretEnv, name) {
			return fmt.Errorf("-secret %s: not one of %s", name, strings.Join(secretEnv, ", "))
		}
	}
	return nil
}

// selected filters targets and jobs by -only; unknown names are an error.
func (o *Options) selected(ts []Target, jobs []SchedulerJob) ([]Target, []SchedulerJob, error) {
	if len(o.Only) == 0 {
		return ts, jobs, nil
	}
	want := map[string]bool{}
	for _, n := range o.Only {
		want[n] = true
	}
	var outT []Target
	var outJ []SchedulerJob
	seen := map[string]bool{}
	for _, t := range ts {
		if want[t.Name] {
			outT = append(outT, t)
			seen[t.Name] = true
		}
	}
	// A scheduled function and its job share a name: -only NAME takes both.
	for _, j := range jobs {
		if want[j.Name] {
			outJ = append(outJ, j)
			seen[j.Name] = true
		}
	}
	if len(seen) < len(want) {
		var unknown []string
		for n := range want {
			if !seen[n] {
				unknown = append(unknown, n)
			}
		}
		sort.Strings(unknown)
		return nil, nil, fmt.Errorf("-only: unknown function or job: %s", strings.Join(unknown, ", "))
	}
	return outT, outJ, nil
}

// deploySet are the variables the deploy sets itself (or the platform
// does); -env may not name them.
var deploySet = []string{"GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "FIREBASE_PROJECT_ID", "OWLETTE_ENV", "K_SERVICE",
	config.EnvStorageBucket, EnvServiceAccount, EnvAudience}

// checkExtraEnv accepts a -env variable a function's configuration reads
// that is neither a secret (those go by reference) nor one the deploy sets.
func checkExtraEnv(name string) error {
	switch {
	case contains(secretEnv, name):
		return errors.New("a secret: it is passed by reference from Secret Manager (see -secret)")
	case contains(deploySet, name):
		return errors.New("set by the deploy itself (-project, -bucket, -scheduler-service-account)")
	case strings.HasSuffix(name, "_EMULATOR_HOST"):
		return errors.New("emulators are for local runs: a function refuses to start on Cloud Run with one set")
	case !contains(config.BaseVars, name) && !contains(config.All.Vars(), name):
		return errors.New("no function reads it (shared/config)")
	}
	return nil
}

// envVars are t's own plain variables (DECISIONS §4): the project and
// environment, the bucket and the scheduler identity when its configuration
// has those groups, and the -env variables its configuration reads.
func (o *Options) envVars(t Target) string {
	vars := []string{
		"GOOGLE_CLOUD_PROJECT=" + o.Project,
		"OWLETTE_ENV=production",
	}
	if t.Config.Has(config.Storage) {
		vars = append(vars, config.EnvStorageBucket+"="+o.StorageBucket)
	}
	if t.Config.Has(config.Scheduler) {
		// What the function checks the scheduler's OIDC token against.
		vars = append(vars, EnvServiceAccount+"="+o.SchedulerSA, EnvAudience+"="+o.functionURL(t.Name))
	}
	reads := t.Config.Vars()
	for _, kv := range o.ExtraEnv {
		if name, _, _ := strings.Cut(kv, "="); contains(config.BaseVars, name) || contains(reads, name) {
			vars = append(vars, kv)
		}
	}
	return strings.Join(vars, ",")
}

// functionURL is a gen2 function's own HTTPS endpoint, which scheduled
// functions are called at (and the audience of their OIDC tokens).
func (o *Options) functionURL(name string) string {
	return "https://" + o.Region + "-" + o.Project + ".cloudfunctions.net/" + name
}

// secrets are t's own --set-secrets references (DECISIONS §4: each function
// gets only the secrets it uses).
func (o *Options) secrets(t Target) string {
	var refs []string
	for _, name := range t.Secrets {
		id := kebab(name)
		if v, ok := o.SecretIDs[name]; ok {
			id = v
		}
		if !strings.Contains(id, ":") {
			id += ":latest"
		}
		refs = append(refs, name+"="+id)
	}
	return strings.Join(refs, ",")
}

// deployStep is the gcloud command deploying a staged function from src.
func (o *Options) deployStep(t Target, src string) Step {
	argv := []string{
		"gcloud", "functions", "deploy", t.Name,
		"--gen2",
		"--runtime=" + goRuntime,
		"--region=" + o.Region,
		"--project=" + o.Project,
		"--source=" + src,
		"--entry-point=" + t.Name,
	}
	switch t.Kind {
	case HTTP:
		argv = append(argv, "--trigger-http", "--allow-unauthenticated")
	case Scheduled:
		argv = append(argv, "--trigger-http", "--no-allow-unauthenticated")
	case Firestore:
		db := t.Database
		if db == "" {
			db = "(default)"
		}
		argv = append(argv,
			"--trigger-location="+o.FirestoreLocation,
			"--trigger-event-filters=type="+t.EventType,
			"--trigger-event-filters=database="+db,
			"--trigger-event-filters-path-pattern=document="+t.Document,
		)
		if t.Retry {
			argv = append(argv, "--retry")
		}
	}
	argv = append(argv,
		"--timeout="+strconv.Itoa(t.Timeout)+"s",
		"--concurrency="+strconv.Itoa(concurrency),
		"--cpu="+cpu,
		"--memory="+t.Memory,
		"--min-instances="+strconv.Itoa(minInstances),
		"--max-instances="+strconv.Itoa(o.MaxInstances),
		"--set-env-vars="+o.envVars(t),
	)
	if s := o.secrets(t); s != "" {
		argv = append(argv, "--set-secrets="+s)
	}
	if o.ServiceAccount != "" {
		argv = append(argv, "--service-account="+o.ServiceAccount)
		if t.Kind == Firestore {
			argv = append(argv, "--trigger-service-account="+o.ServiceAccount)
		}
	}
	step := Step{Name: t.Name, Argv: append(argv, "--quiet")}
	if t.Kind == Scheduled {
		// Only the scheduler's identity may invoke it.
		step.Then = [][]string{{"gcloud", "functions", "add-invoker-policy-binding", t.Name,
			"--region=" + o.Region, "--project=" + o.Project, "--member=serviceAccount:" + o.SchedulerSA, "--quiet"}}
	}
	return step
}

// schedulerStep creates the job, or updates it when it exists.
func (o *Options) schedulerStep(j SchedulerJob) Step {
	tz := j.TimeZone
	if tz == "" {
		tz = "Etc/UTC"
	}
	method := j.Method
	if method == "" {
		method = "GET"
	}
	uri := strings.TrimRight(o.BaseURL, "/") + j.Path
	if j.Function != "" {
		uri = o.functionURL(j.Function)
	}
	common := []string{
		"--location=" + o.Region,
		"--project=" + o.Project,
		"--schedule=" + j.Schedule,
		"--time-zone=" + tz,
		"--uri=" + uri,
		"--http-method=" + method,
	}
	if o.SchedulerSA != "" {
		common = append(common, "--oidc-service-account-email="+o.SchedulerSA, "--oidc-token-audience="+uri)
	}
	common = append(common, "--quiet")
	create := append([]string{"gcloud", "scheduler", "jobs", "create", "http", j.Name}, common...)
	update := append([]string{"gcloud", "scheduler", "jobs", "update", "http", j.Name}, common...)
	probe := []string{"gcloud", "scheduler", "jobs", "describe", j.Name, "--location=" + o.Region, "--project=" + o.Project}
	return Step{Name: j.Name, Argv: create, Probe: probe, Update: update}
}

// firebaseStep deploys Hosting, Firestore rules and indexes with the pinned
// CLI in tools/ when it is installed.
func (o *Options) firebaseStep() Step {
	cli := []string{"firebase"}
	rel := filepath.Join("tools", "node_modules", "firebase-tools", "lib", "bin", "firebase.js")
	if _, err := os.Stat(filepath.Join(o.Root, rel)); err == nil {
		cli = []string{"node", filepath.ToSlash(rel)}
	}
	argv := append(cli, "deploy", "--only", "hosting,firestore:rules,firestore:indexes,storage", "--project", o.Project, "--non-interactive")
	return Step{Name: "firebase", Argv: argv}
}

// sourceArg is how --source names the staged dir: relative to Root (the
// commands run there) when inside it.
func (o *Options) sourceArg(dir string) string {
	if rel, err := filepath.Rel(o.Root, dir); err == nil && !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel) {
		return filepath.ToSlash(rel)
	}
	return dir
}

// planFunctions stages every selected function and returns the deploy steps:
// one per function in table order, then the scheduler jobs.
func planFunctions(o *Options) ([]Step, error) {
	ts, jobs := Targets(), SchedulerJobs
	if err := validateTables(ts, jobs); err != nil {
		return nil, err
	}
	ts, jobs, err := o.selected(ts, jobs)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.Kind == Firestore && o.FirestoreLocation == "" {
			return nil, fmt.Errorf("function %s has a Firestore trigger: -firestore-location is required", t.Name)
		}
		if t.Kind == Scheduled && o.SchedulerSA == "" {
			return nil, fmt.Errorf("function %s is called by Cloud Scheduler: -scheduler-service-account is required (the job's OIDC identity)", t.Name)
		}
	}
	for _, j := range jobs {
		if j.Function != "" && o.SchedulerSA == "" {
			return nil, fmt.Errorf("scheduler job %s calls function %s: -scheduler-service-account is required", j.Name, j.Function)
		}
	}
	var steps []Step
	for _, t := range ts {
		stageFn := o.stageFn
		if stageFn == nil {
			stageFn = stage
		}
		dir, err := stageFn(o.Root, o.StageRoot, t)
		if err != nil {
			return nil, err
		}
		if o.Check && !o.DryRun {
			if err := buildCheck(dir); err != nil {
				return nil, fmt.Errorf("staged %s does not build on its own: %w", t.Name, err)
			}
		}
		steps = append(steps, o.deployStep(t, o.sourceArg(dir)))
	}
	for _, j := range jobs {
		steps = append(steps, o.schedulerStep(j))
	}
	return steps, nil
}

// buildCheck compiles the staged upload locally, failing fast instead of in
// Cloud Build.
func buildCheck(dir string) error {
	cmd := exec.Command("go", "build", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

// execute prints (dry run) or runs the steps. Function deploys may run in
// parallel; each one's output is then printed as a block when it finishes.
func execute(ctx context.Context, o *Options, steps []Step) error {
	if o.DryRun {
		for _, s := range steps {
			fmt.Fprintln(o.Out, s.String())
		}
		return nil
	}
	sem := make(chan struct{}, o.Parallel)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed []string
	for _, s := range steps {
		wg.Add(1)
		sem <- struct{}{}
		go func(s Step) {
			defer wg.Done()
			defer func() { <-sem }()
			var buf bytes.Buffer
			w := io.Writer(&buf)
			if o.Parallel == 1 {
				w = o.Out
			}
			fmt.Fprintf(w, "==> %s\n$ %s\n", s.Name, s.String())
			err := runStep(ctx, o.Root, s, w)
			mu.Lock()
			defer mu.Unlock()
			if o.Parallel > 1 {
				o.Out.Write(buf.Bytes())
			}
			if err != nil {
				fmt.Fprintf(o.Out, "!!! %s failed: %v\n", s.Name, err)
				failed = append(failed, s.Name)
			}
		}(s)
	}
	wg.Wait()
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

func runStep(ctx context.Context, dir string, s Step, w io.Writer) error {
	argv := s.Argv
	if s.Probe != nil {
		probe := exec.CommandContext(ctx, s.Probe[0], s.Probe[1:]...)
		probe.Dir = dir
		if probe.Run() == nil {
			argv = s.Update
		}
	}
	for _, a := range append([][]string{argv}, s.Then...) {
		cmd := exec.CommandContext(ctx, a[0], a[1:]...)
		cmd.Dir = dir
		cmd.Stdout = w
		cmd.Stderr = w
		cmd.Stdin = nil
		if err := cmd.Run(); err != nil {
			return err
		}
	}
	return nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
