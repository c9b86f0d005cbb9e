package llmsettings

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/web"
)

// storedKeyModels is X12. Order: session → stored settings (404) →
// provider, the query's or the stored one (400) → decrypt → provider call.
func (h handlers) storedKeyModels(w http.ResponseWriter, r *http.Request) error {
	p := guard.Caller(r)
	s, err := llmconfig.Read(r.Context(), llmconfig.UserSettings(h.d.Firestore, p.UID))
	if err != nil {
		return web.Internal(err)
	}
	if s == nil || s.APIKeyEncrypted == "" {
		return web.NotFound("No LLM API key is saved: save your key first")
	}
	provider := r.URL.Query().Get("provider")
	if provider == "" {
		provider = s.Provider
	}
	if !llmconfig.ValidProvider(provider) {
		return web.BadRequest(`Invalid provider: expected "anthropic" or "openai"`)
	}
	key, err := llmconfig.Open(h.d.Config, s.APIKeyEncrypted)
	switch {
	case errors.Is(err, llmconfig.ErrEncryptionUnset):
		return errEncryptionUnset
	case err != nil:
		// The stored value is the server's to fix, not the caller's input.
		e := &llmconfig.Error{Kind: llmconfig.ErrUndecryptable, Mode: llmconfig.ModeUser, Source: llmconfig.SourceUser}
		return web.Errorf(http.StatusInternalServerError, "%s", e.Error()).Wrap(err)
	}
	return h.listModels(w, r, provider, key)
}

type modelsRequest struct {
	Provider string `json:"provider"`
	APIKey   string `json:"apiKey" max:"512"`
}

func (q *modelsRequest) Validate() error {
	if err := validProvider(q.Provider); err != nil {
		return err
	}
	var err error
	q.APIKey, err = cleanKey(q.APIKey)
	return err
}

// suppliedKeyModels is X13: X12 with the key in the body; nothing is
// stored. Order: session → body → provider call.
func (h handlers) suppliedKeyModels(w http.ResponseWriter, r *http.Request) error {
	var req modelsRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	return h.listModels(w, r, req.Provider, req.APIKey)
}

// listModels asks the provider, once (no retries: the user is waiting and
// can ask again), through the instance's client.
func (h handlers) listModels(w http.ResponseWriter, r *http.Request, provider, key string) error {
	models, err := llm.ListModels(r.Context(), llm.Config{
		Provider:   provider,
		APIKey:     key,
		BaseURL:    llmconfig.BaseURL(h.d.Config, provider),
		HTTPClient: h.client,
		MaxRetries: -1,
	})
	if err != nil {
		return providerError(r.Context(), provider, err)
	}
	return web.OK(w, web.M{"models": models})
}

// maxProviderMessage bounds the provider's text quoted back to the caller
// (a provider without a message gives its raw JSON body).
const maxProviderMessage = 500

// providerError maps a failed provider call (see the package comment): a
// refused key is the caller's input (400), anything else the provider's
// failure (502, or 504 when it did not answer in time). The public message
// carries the provider's own words; the key is never in them (providers
// mask it).
func providerError(ctx context.Context, provider string, err error) error {
	name := map[string]string{llm.Anthropic: "Anthropic", llm.OpenAI: "OpenAI"}[provider]
	var pe *llm.ProviderError
	if errors.As(err, &pe) {
		msg := truncate(pe.Error(), maxProviderMessage)
		switch pe.StatusCode {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			return web.Errorf(http.StatusBadRequest, "The provider refused the key: %s", msg).Wrap(err)
		}
		return web.Errorf(http.StatusBadGateway, "%s answered with an error (HTTP %d): %s", name, pe.StatusCode, msg).Wrap(err)
	}
	if ctx.Err() != nil {
		return err // the request's own deadline or cancellation: the web layer answers it
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return web.Errorf(http.StatusGatewayTimeout, "%s did not answer within %s: please try again", name, ProviderTimeout).Wrap(err)
	}
	return web.Errorf(http.StatusBadGateway, "Could not reach %s: please try again", name).Wrap(fmt.Errorf("list models: %w", err))
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
