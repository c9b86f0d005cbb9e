package config_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/owlette/server/shared/config"
)

// everyGroup lists the groups one by one.
func everyGroup() []config.Groups {
	var out []config.Groups
	for g := config.Groups(1); g&config.All != 0; g <<= 1 {
		out = append(out, g)
	}
	return out
}

// groupFields are Config's embedded group structs, by field name.
func groupFields() []reflect.StructField {
	var out []reflect.StructField
	for _, f := range reflect.VisibleFields(reflect.TypeFor[config.Config]()) {
		if f.Anonymous && f.Type.Kind() == reflect.Pointer {
			out = append(out, f)
		}
	}
	return out
}

// A function reads the variables of the Base and of its groups, and no
// other: LoadFor asks for nothing else, and every variable a group lists is
// one it reads (locally or in production).
func TestLoadForReadsOnlyDeclaredVariables(t *testing.T) {
	for _, g := range append(everyGroup(), config.None, config.All, config.Session|config.Email) {
		allowed := append(slices.Clone(config.BaseVars), g.Vars()...)
		asked := map[string]bool{}
		for _, env := range []map[string]string{local, prod} {
			getenv := func(k string) string {
				asked[k] = true
				if !slices.Contains(allowed, k) {
					t.Errorf("%v: read %s, which it did not declare", g, k)
				}
				return env[k]
			}
			if _, err := config.LoadFor(context.Background(), getenv, nil, g); err != nil && g != config.All {
				t.Logf("%v: %v", g, err) // missing production secrets are fine here
			}
		}
		for _, v := range g.Vars() {
			if !asked[v] {
				t.Errorf("%v lists %s but never reads it", g, v)
			}
		}
	}
}

// An undeclared group is absent (nil), so reading it panics; Session and
// Scheduler are always there, with fail-closed values when undeclared.
func TestUndeclaredGroupsAreAbsent(t *testing.T) {
	always := map[string]bool{"SessionConfig": true, "SchedulerConfig": true}
	for _, g := range append(everyGroup(), config.None) {
		c, err := config.LoadFor(context.Background(), envOf(local), nil, g)
		if err != nil {
			t.Fatalf("%v: %v", g, err)
		}
		v := reflect.ValueOf(c).Elem()
		for _, f := range groupFields() {
			declared := config.Of(f.Name) == g
			if set := !v.FieldByIndex(f.Index).IsNil(); set != (declared || always[f.Name]) {
				t.Errorf("declaring %v: %s set = %v", g, f.Name, set)
			}
		}
	}
	c, _ := config.LoadFor(context.Background(), envOf(local), nil, config.None)
	if c.SchedulerServiceAccount != "" || c.SessionSecret == secret32 {
		t.Errorf("undeclared Session/Scheduler read the environment: %+v %+v", c.SessionConfig, c.SchedulerConfig)
	}
}

// Of maps every field of every group struct (and the group's own field) to
// its group, Base fields to none; each group struct belongs to one group.
func TestOf(t *testing.T) {
	seen := config.None
	for _, f := range groupFields() {
		g := config.Of(f.Name)
		if g == config.None || seen&g != 0 {
			t.Errorf("%s: group %v (seen %v)", f.Name, g, seen)
		}
		seen |= g
		for i := range f.Type.Elem().NumField() {
			if n := f.Type.Elem().Field(i).Name; config.Of(n) != g {
				t.Errorf("Of(%s) = %v, want %v", n, config.Of(n), g)
			}
		}
	}
	if seen != config.All {
		t.Errorf("the group structs cover %v, not every group", seen)
	}
	for _, n := range []string{"ProjectID", "Env", "Emulators", "TrustedProxyHops", "Production", "NoSuchField"} {
		if g := config.Of(n); g != config.None {
			t.Errorf("Of(%s) = %v, want none", n, g)
		}
	}
	if config.Of("WebAuthn") != config.Passkeys {
		t.Error("WebAuthn reads the Passkeys group")
	}
}

func TestGroupsSecretsAndNames(t *testing.T) {
	for _, tc := range []struct {
		g       config.Groups
		secrets []string
		name    string
	}{
		{config.None, nil, "none"},
		{config.Session, []string{"SESSION_SECRET"}, "session"},
		{config.Session | config.Email, []string{"SESSION_SECRET", "RESEND_API_KEY"}, "session|email"},
		{config.LLM, []string{"MFA_ENCRYPTION_KEY", "LLM_ENCRYPTION_KEY"}, "llm"},
		{config.Webhooks | config.Storage | config.Passkeys | config.TouchDesigner | config.Scheduler, nil, "webhooks|scheduler|storage|passkeys|touchdesigner"},
		{config.All, config.AllSecrets, "session|mfa|llm|email|webhooks|cron|internal|scheduler|agenttokens|storage|passkeys|touchdesigner"},
	} {
		if got := tc.g.Secrets(); !slices.Equal(got, tc.secrets) {
			t.Errorf("%v.Secrets() = %q, want %q", tc.g, got, tc.secrets)
		}
		if tc.g.String() != tc.name {
			t.Errorf("String() = %q, want %q", tc.g.String(), tc.name)
		}
	}
	for _, s := range config.All.Secrets() {
		if !slices.Contains(config.All.Vars(), s) {
			t.Errorf("secret %s is not a variable of its group", s)
		}
	}
}
