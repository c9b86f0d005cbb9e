package utilities_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/utilities"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/email"
)

const unsubscribePath = "/api/unsubscribe"

func TestUnsubscribe(t *testing.T) {
	e := apptest.New(t, utilities.Register)
	ctx := context.Background()
	u := e.Member("site-a")
	prefs := map[string]any{"healthAlerts": true, "processAlerts": true, "alertCcEmails": []any{"cc@example.test"}, "temperatureUnit": "F"}
	if _, err := e.FS.Collection("users").Doc(u.UID).Set(ctx, map[string]any{"preferences": prefs}, firestore.MergeAll); err != nil {
		t.Fatal(err)
	}
	unsub, err := email.NewUnsubscriber(e.D.Config.CronSecret)
	if err != nil {
		t.Fatal(err)
	}
	link := func(uid string) string { return unsubscribePath + "?token=" + url.QueryEscape(unsub.Token(uid)) }
	unchanged := func(t *testing.T, _ *apptest.Response) {
		if got := e.Doc("users/" + u.UID)["preferences"]; !reflect.DeepEqual(got, prefs) {
			t.Errorf("preferences changed by a refused request: %v", got)
		}
	}
	// Tampered tokens: another uid under the same signature, a flipped
	// signature character, a truncated token, a token for another key.
	raw, _ := base64.RawURLEncoding.DecodeString(unsub.Token(u.UID))
	sig := string(raw[strings.LastIndexByte(string(raw), ':')+1:])
	otherUID := base64.RawURLEncoding.EncodeToString([]byte("someone-else:" + sig))
	flipped := []byte(raw)
	if flipped[len(flipped)-1] == '0' {
		flipped[len(flipped)-1] = '1'
	} else {
		flipped[len(flipped)-1] = '0'
	}
	foreignKey, _ := email.NewUnsubscriber("another-secret")
	bad := func(name, query string) apptest.Scenario {
		return apptest.Scenario{Name: name, Method: "GET", Path: unsubscribePath + query, Status: 400, Check: unchanged}
	}
	e.Run(t, []apptest.Scenario{
		bad("missing token", ""),
		bad("empty token", "?token="),
		bad("garbage", "?token=not-a-token"),
		bad("another uid under the same signature", "?token="+otherUID),
		bad("flipped signature", "?token="+base64.RawURLEncoding.EncodeToString(flipped)),
		bad("truncated", "?token="+unsub.Token(u.UID)[:20]),
		bad("signed with another key", "?token="+url.QueryEscape(foreignKey.Token(u.UID))),
		bad("valid HMAC of a uid that cannot be a document id", "?token="+url.QueryEscape(unsub.Token("a/b"))),
		bad("token not UTF-8", "?token=%FF"),
		{Name: "wrong method", Method: "POST", Path: link(u.UID), Status: 405, Check: unchanged},
	})

	t.Run("unsubscribes from health alerts only", func(t *testing.T) {
		r := e.Do("GET", link(u.UID), nil, nil, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "owlette.example"})
		if r.StatusCode != 307 || r.Header.Get("Location") != "https://owlette.example/unsubscribe?success=true" {
			t.Fatalf("%d Location %q", r.StatusCode, r.Header.Get("Location"))
		}
		want := map[string]any{"healthAlerts": false, "processAlerts": true, "alertCcEmails": []any{"cc@example.test"}, "temperatureUnit": "F"}
		doc := e.Doc("users/" + u.UID)
		if !reflect.DeepEqual(doc["preferences"], want) {
			t.Errorf("preferences %v, want %v", doc["preferences"], want)
		}
		if doc["email"] != u.Email || doc["role"] != "user" {
			t.Errorf("other fields touched: %v", doc)
		}
		// A second click is harmless.
		if r := e.Do("GET", link(u.UID), nil, nil, nil); r.StatusCode != 307 {
			t.Errorf("again: %d", r.StatusCode)
		}
	})

	t.Run("creates the user document when absent", func(t *testing.T) {
		r := e.Do("GET", link("ghost-user"), nil, nil, nil)
		if r.StatusCode != 307 || r.Header.Get("Location") != "http://example.com/unsubscribe?success=true" {
			t.Fatalf("%d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if doc := e.Doc("users/ghost-user"); !reflect.DeepEqual(doc, map[string]any{"preferences": map[string]any{"healthAlerts": false}}) {
			t.Errorf("document %v", doc)
		}
	})

	t.Run("BASE_URL decides the redirect", func(t *testing.T) {
		e.D.Config.BaseURL = "https://owlette.app/"
		defer func() { e.D.Config.BaseURL = "" }()
		r := e.Do("GET", link(u.UID), nil, nil, map[string]string{"X-Forwarded-Host": "evil.example"})
		if r.StatusCode != 307 || r.Header.Get("Location") != "https://owlette.app/unsubscribe?success=true" {
			t.Errorf("%d %q", r.StatusCode, r.Header.Get("Location"))
		}
	})

	t.Run("padded token (Node's decoder takes both)", func(t *testing.T) {
		tok := base64.URLEncoding.EncodeToString([]byte(u.UID + ":" + sig))
		if r := e.Do("GET", unsubscribePath+"?token="+url.QueryEscape(tok), nil, nil, nil); r.StatusCode != 307 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("without CRON_SECRET no token verifies", func(t *testing.T) {
		victim := e.Member()
		e.D.Config.CronSecret = ""
		defer func() { e.D.Config.CronSecret = "apptest-cron-secret" }()
		r := e.Do("GET", link(victim.UID), nil, nil, nil)
		if r.StatusCode != 400 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
		if p := e.Doc("users/" + victim.UID)["preferences"]; p != nil {
			t.Errorf("preferences %v", p)
		}
	})

	t.Run("credentials are irrelevant", func(t *testing.T) {
		admin := e.Admin()
		if r := e.Do("GET", unsubscribePath+"?token=x", apptest.WithCookie(admin.Cookie()), nil, nil); r.StatusCode != 400 {
			t.Errorf("admin with a bad token: %d", r.StatusCode)
		}
		if r := e.Do("GET", link(u.UID), apptest.WithBearer("forged.token.x"), nil, nil); r.StatusCode != 307 {
			t.Errorf("forged bearer with a good token: %d %s", r.StatusCode, r.Raw)
		}
	})
}
