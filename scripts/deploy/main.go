// Command deploy generates Firebase Hosting's rewrites from functions/registry and
// deploys the Go Cloud Functions (gen2) with gcloud, which the Firebase CLI
// cannot do for Go.
//
// Usage (from anywhere inside the module):
//
//	go run ./scripts/deploy hosting [-region us-central1] [-check]
//	go run ./scripts/deploy functions -project P [-region R] [-only a,b] [-dry-run] [flags]
//	go run ./scripts/deploy all       -project P [-region R] [-dry-run] [flags]
//
// "hosting" rewrites the "hosting" key of firebase.json (other keys are kept
// verbatim). "functions" stages each function into .deploy/<name>/ (the Go
// buildpack needs the function package at the root of the upload) and runs
// `gcloud functions deploy` for it, then creates or updates the Cloud Scheduler
// jobs. "all" deploys the functions, then runs `firebase deploy --only
// hosting,firestore:rules,firestore:indexes,storage`. -dry-run stages but prints the
// commands, one per line, instead of running them.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/owlette/server/functions/registry"
	"github.com/owlette/server/shared/fn"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "deploy:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: go run ./scripts/deploy <command> [flags]

commands:
  hosting     regenerate firebase.json "hosting" from functions/registry (-check: only verify)
  functions   stage and deploy the Cloud Functions (and Cloud Scheduler jobs)
  all         functions, then firebase deploy --only hosting,firestore:rules,firestore:indexes,storage

run "go run ./scripts/deploy <command> -h" for the flags of a command
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	root, err := findRoot()
	if err != nil {
		return err
	}
	switch args[0] {
	case "hosting":
		return cmdHosting(root, args[1:], stdout, stderr)
	case "functions", "all":
		return cmdDeploy(ctx, root, args[0], args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func cmdHosting(root string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hosting", flag.ContinueOnError)
	fs.SetOutput(stderr)
	region := fs.String("region", defaultRegion, "region of the Cloud Run services behind the functions")
	check := fs.Bool("check", false, "do not write; fail if firebase.json is stale")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := validateTables(Targets(), SchedulerJobs); err != nil {
		return err
	}
	path := filepath.Join(root, "firebase.json")
	cur, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	want, err := rewriteFirebaseJSON(cur, hostingFor(registry.Of(fn.HTTP), *region))
	if err != nil {
		return err
	}
	if bytes.Equal(cur, want) {
		fmt.Fprintln(stdout, "firebase.json is up to date")
		return nil
	}
	if *check {
		return errors.New("firebase.json is stale: run `go run ./scripts/deploy hosting`")
	}
	if err := os.WriteFile(path, want, 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote firebase.json")
	return nil
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type repeatFlag []string

func (r *repeatFlag) String() string     { return strings.Join(*r, " ") }
func (r *repeatFlag) Set(v string) error { *r = append(*r, v); return nil }

func cmdDeploy(ctx context.Context, root, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &Options{Root: root, Out: stdout}
	var only listFlag
	var secrets, env repeatFlag
	fs.StringVar(&o.Project, "project", "", "Google Cloud / Firebase project id (required)")
	fs.StringVar(&o.Region, "region", defaultRegion, "functions region (must match the Hosting rewrites)")
	fs.StringVar(&o.StageRoot, "stage-dir", "", "staging root (default <module>/.deploy)")
	fs.StringVar(&o.ServiceAccount, "service-account", "", "runtime service account email (default: project's default)")
	fs.StringVar(&o.StorageBucket, "bucket", "", "STORAGE_BUCKET of the functions that use Storage (default <project>.firebasestorage.app)")
	fs.IntVar(&o.MaxInstances, "max-instances", defaultMaxIns, "--max-instances of every function")
	fs.Var(&secrets, "secret", "NAME=secret-id[:version] override of a secret reference (repeatable)")
	fs.Var(&env, "env", "plain KEY=VALUE env var, e.g. BASE_URL=https://owlette.app, given to the functions whose configuration reads KEY (repeatable)")
	fs.StringVar(&o.FirestoreLocation, "firestore-location", "", "Firestore database location, e.g. nam5 (needed by Firestore-trigger functions)")
	fs.StringVar(&o.SchedulerSA, "scheduler-service-account", "", "OIDC service account of Cloud Scheduler jobs")
	fs.StringVar(&o.BaseURL, "base-url", "", "base URL scheduler jobs call (default https://<project>.web.app)")
	fs.Var(&only, "only", "comma-separated function / scheduler job names (default: all)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "stage, then print the commands instead of running them")
	fs.IntVar(&o.Parallel, "parallel", 4, "function deploys run at once")
	fs.BoolVar(&o.Check, "check", true, "go build each staged upload before deploying it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	o.Only = only
	o.ExtraEnv = env
	o.SecretIDs = map[string]string{}
	for _, s := range secrets {
		name, id, ok := strings.Cut(s, "=")
		if !ok || id == "" {
			return fmt.Errorf("-secret %q: want NAME=secret-id[:version]", s)
		}
		o.SecretIDs[name] = id
	}
	if err := o.defaults(); err != nil {
		return err
	}

	fnSteps, tail, err := plan(o, cmd == "all", stderr)
	if err != nil {
		return err
	}
	if err := execute(ctx, o, fnSteps); err != nil {
		return err
	}
	seq := *o
	seq.Parallel = 1
	return execute(ctx, &seq, tail)
}

// plan stages the functions and returns their steps, plus, for "all", the
// steps that must run after them one at a time. Hosting goes last: a "run"
// rewrite to a service that does not exist yet fails the release.
func plan(o *Options, all bool, stderr io.Writer) (fnSteps, tail []Step, err error) {
	if all {
		if len(o.Only) > 0 {
			return nil, nil, errors.New("-only is for the functions command")
		}
		if err := preflightFirebase(o, stderr); err != nil {
			return nil, nil, err
		}
		tail = []Step{o.firebaseStep()}
	}
	fnSteps, err = planFunctions(o)
	if err != nil {
		return nil, nil, err
	}
	return fnSteps, tail, nil
}

// preflightFirebase checks what `firebase deploy` will need: firebase.json's
// hosting in sync with the routes table for this region, and the rules and
// indexes files it names.
func preflightFirebase(o *Options, stderr io.Writer) error {
	cur, err := os.ReadFile(filepath.Join(o.Root, "firebase.json"))
	if err != nil {
		return err
	}
	want, err := rewriteFirebaseJSON(cur, hostingFor(registry.Of(fn.HTTP), o.Region))
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, want) {
		return fmt.Errorf("firebase.json hosting is stale or for another region: run `go run ./scripts/deploy hosting -region %s`", o.Region)
	}
	for _, f := range []string{"firestore.rules", "firestore.indexes.json", filepath.Join("public", "index.html")} {
		if _, err := os.Stat(filepath.Join(o.Root, f)); err != nil {
			if o.DryRun {
				fmt.Fprintf(stderr, "warning: %s is missing; firebase deploy will fail\n", f)
				continue
			}
			return fmt.Errorf("%s is missing", f)
		}
	}
	return nil
}

// findRoot walks up from the working directory to this module's go.mod.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the " + modulePath + " module")
		}
		dir = parent
	}
}
