package main

import (
	"fmt"
	"log/slog"
	"net/url"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/email/resendfake"
	"github.com/owlette/server/shared/llm/llmfake"
)

// fakes are the loopback stand-ins `make dev` runs for what would leave the
// machine: Resend (every e-mail is kept, and listed on its inbox page) and
// the LLM providers (a chat works without a real key).
type fakes struct {
	resend *resendfake.Server
	llm    *llmfake.Server
}

// startFakes serves the fakes on the addresses the configuration points the
// SDKs at (RESEND_BASE_URL, ANTHROPIC_BASE_URL), so the functions reach
// them exactly as they would reach the real services.
func startFakes(cfg *config.Config, log *slog.Logger) (*fakes, error) {
	f := &fakes{}
	if cfg.ResendBaseURL != "" {
		u, err := url.Parse(cfg.ResendBaseURL)
		if err != nil {
			return nil, fmt.Errorf("RESEND_BASE_URL: %w", err)
		}
		if f.resend, err = resendfake.Start(u.Host, resendfake.WithAPIKey(cfg.ResendAPIKey), resendfake.WithLogger(log.With("component", "resend-fake"))); err != nil {
			return nil, fmt.Errorf("fake Resend on %s: %w", u.Host, err)
		}
	}
	if cfg.AnthropicBaseURL != "" {
		u, err := url.Parse(cfg.AnthropicBaseURL)
		if err != nil {
			return nil, fmt.Errorf("ANTHROPIC_BASE_URL: %w", err)
		}
		if f.llm, err = llmfake.Start(u.Host); err != nil {
			f.close()
			return nil, fmt.Errorf("fake LLM providers on %s: %w", u.Host, err)
		}
	}
	return f, nil
}

func (f *fakes) close() {
	if f.resend != nil {
		_ = f.resend.Close()
	}
	if f.llm != nil {
		_ = f.llm.Close()
	}
}

// banner lines for the fakes.
func (f *fakes) banner() string {
	s := ""
	if f.resend != nil {
		s += fmt.Sprintf(" E-mails:     caught by a local Resend stand-in, read them at %s/\n", f.resend.URL())
	}
	if f.llm != nil {
		s += fmt.Sprintf(" Cortex LLM:  a local Anthropic/OpenAI stand-in at %s (any API key works)\n", f.llm.URL())
	}
	s += " Webhooks:    http://127.0.0.1:<port>/… targets are allowed locally (WEBHOOK_ALLOW_LOOPBACK)\n"
	return s
}
