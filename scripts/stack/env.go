package main

import (
	"os"
	"strings"

	"github.com/owlette/server/shared/trigger/relay"
)

// kv is one environment variable.
type kv struct{ Key, Value string }

// stackEnv returns the variables a process needs to talk to the stack. With
// dev set it adds the fixed, obviously local secrets the dev server requires.
func stackEnv(dev bool) []kv {
	env := []kv{
		{"FIRESTORE_EMULATOR_HOST", addr(firestorePort)},
		{"FIREBASE_AUTH_EMULATOR_HOST", addr(authPort)},
		{"STORAGE_EMULATOR_HOST", addr(gcsPort)},
		{"GOOGLE_CLOUD_PROJECT", projectID},
		{relay.EnvVar, addr(relayPort)},
	}
	if dev {
		env = append(env,
			kv{"SESSION_SECRET", "local-dev-session-secret-not-for-production-0001"},
			kv{"MFA_ENCRYPTION_KEY", "local-dev-mfa-key-not-for-production-0001"},
			kv{"LLM_ENCRYPTION_KEY", "local-dev-llm-key-not-for-production-0001"},
			kv{"CRON_SECRET", "local-dev-cron-secret-not-for-production"},
			kv{"CORTEX_INTERNAL_SECRET", "local-dev-cortex-secret-not-for-production"},
			kv{"FIREBASE_API_KEY", "fake-api-key"},
			kv{"STORAGE_BUCKET", bucketName},
			kv{"OWLETTE_ENV", "local"},
			kv{"WEBAUTHN_ORIGINS", "http://localhost:18080,http://localhost:3000"},
			// Local clients may name their address in X-Forwarded-For (the
			// simulated fleet's load test spreads agents over addresses).
			kv{"TRUSTED_PROXY_HOPS", "1"},
			// What leaves the machine is caught by loopback fakes the dev
			// server runs (-fakes): e-mails, LLM calls. Webhooks may target
			// a local receiver.
			kv{"RESEND_API_KEY", "re_local_dev_not_a_real_key"},
			kv{"RESEND_BASE_URL", "http://" + addr(resendPort)},
			kv{"RESEND_FROM_EMAIL", "owlette <alerts@owlette.local>"},
			kv{"ADMIN_EMAIL_DEV", "admin@owlette.local"},
			kv{"BASE_URL", "http://" + addr(devPort)},
			kv{"WEBHOOK_ALLOW_LOOPBACK", "true"},
			kv{"ANTHROPIC_BASE_URL", "http://" + addr(llmPort)},
			kv{"OPENAI_BASE_URL", "http://" + addr(llmPort) + "/v1"},
		)
	}
	return env
}

// mergeEnv returns base with every variable of add set, replacing earlier
// values of the same name; the order of base is kept and new names follow.
func mergeEnv(base []string, add []kv) []string {
	set := make(map[string]string, len(add))
	for _, v := range add {
		set[v.Key] = v.Value
	}
	out := make([]string, 0, len(base)+len(add))
	for _, e := range base {
		k, _, _ := strings.Cut(e, "=")
		if _, ok := set[k]; ok {
			continue
		}
		out = append(out, e)
	}
	for _, v := range add {
		out = append(out, v.Key+"="+v.Value)
	}
	return out
}

// withoutEnv drops the named variables from env. Services get an environment
// without the *_EMULATOR_HOST variables so they never try to talk to each
// other (firebase-tools reacts to some of them).
func withoutEnv(env []string, names ...string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		drop := false
		for _, n := range names {
			if k == n {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, e)
		}
	}
	return out
}

func serviceEnv() []string {
	return withoutEnv(os.Environ(), "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST",
		"STORAGE_EMULATOR_HOST", "FIREBASE_STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "GCLOUD_PROJECT")
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
