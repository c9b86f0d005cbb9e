package llmsettings

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/web"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// The cases the loopback fake cannot produce quickly: a provider that does
// not answer within ProviderTimeout, and the request's own deadline.
func TestProviderErrorMapping(t *testing.T) {
	live := context.Background()
	status := func(err error) (int, string) {
		e := web.AsError(err)
		return e.Status, e.Message
	}

	clientTimeout := &url.Error{Op: "Get", URL: "https://api.anthropic.com/v1/models", Err: timeoutErr{}}
	if s, msg := status(providerError(live, llm.Anthropic, clientTimeout)); s != http.StatusGatewayTimeout || msg != "Anthropic did not answer within 20s: please try again" {
		t.Errorf("client timeout: %d %q", s, msg)
	}
	if s, _ := status(providerError(live, llm.OpenAI, context.DeadlineExceeded)); s != http.StatusGatewayTimeout {
		t.Errorf("deadline from the SDK: %d", s)
	}

	expired, cancel := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancel()
	if err := providerError(expired, llm.OpenAI, context.DeadlineExceeded); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the request's own deadline must pass through to the web layer: %v", err)
	}

	long := &llm.ProviderError{Provider: llm.OpenAI, StatusCode: 502, Message: strings.Repeat("x", 2000)}
	if s, msg := status(providerError(live, llm.OpenAI, long)); s != http.StatusBadGateway || len([]rune(msg)) > 600 {
		t.Errorf("long provider message: %d, %d runes", s, len([]rune(msg)))
	}
}

// The request types' max tags are the exported limits.
func TestFieldLimitsMatchTags(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[keyFields](), reflect.TypeFor[siteKeyRequest](), reflect.TypeFor[modelsRequest]()} {
		for name, want := range map[string]int{"APIKey": MaxAPIKeyBytes, "Model": MaxModelBytes} {
			f, ok := typ.FieldByName(name)
			if !ok {
				continue
			}
			if got := f.Tag.Get("max"); got != strconv.Itoa(want) {
				t.Errorf("%s.%s max tag %q, want %d", typ.Name(), name, got, want)
			}
		}
	}
}
