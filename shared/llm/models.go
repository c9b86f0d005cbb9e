package llm

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
)

// ModelInfo is one entry of the X12/X13 model list.
type ModelInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ListModels lists the models cfg's key can use, filtered as api.md X12
// says. Anthropic: one page of GET /v1/models?limit=100 (newest first, as
// the API orders it) with anthropic-version 2023-06-01, without ids
// containing claude-2 or claude-3-0; name is the display name. OpenAI: GET
// /v1/models, ids starting gpt-4, gpt-3.5, o1, o3, o4 or chatgpt and not
// containing realtime, audio or search, sorted by id; name is the id.
// Provider errors come back as *ProviderError carrying the provider's
// message.
func ListModels(ctx context.Context, cfg Config) ([]ModelInfo, error) {
	switch cfg.Provider {
	case Anthropic:
		return listAnthropic(ctx, cfg)
	case OpenAI:
		return listOpenAI(ctx, cfg)
	}
	return nil, fmt.Errorf("llm: unknown provider %q", cfg.Provider)
}

func listAnthropic(ctx context.Context, cfg Config) ([]ModelInfo, error) {
	svc := anthropic.NewClient(anthropicOptions(cfg)...).Models
	page, err := svc.List(ctx, anthropic.ModelListParams{Limit: anthropic.Int(100)},
		aoption.WithHeader("anthropic-version", "2023-06-01"))
	if err != nil {
		return nil, wrapError(Anthropic, err)
	}
	models := []ModelInfo{}
	for _, m := range page.Data {
		if strings.Contains(m.ID, "claude-2") || strings.Contains(m.ID, "claude-3-0") {
			continue
		}
		name := m.DisplayName
		if name == "" {
			name = m.ID
		}
		models = append(models, ModelInfo{ID: m.ID, Name: name})
	}
	return models, nil
}

var openaiModelPrefixes = []string{"gpt-4", "gpt-3.5", "o1", "o3", "o4", "chatgpt"}

func listOpenAI(ctx context.Context, cfg Config) ([]ModelInfo, error) {
	svc := openai.NewModelService(openaiOptions(cfg)...)
	page, err := svc.List(ctx)
	if err != nil {
		return nil, wrapError(OpenAI, err)
	}
	models := []ModelInfo{}
	for _, m := range page.Data {
		if !keepOpenAIModel(m.ID) {
			continue
		}
		models = append(models, ModelInfo{ID: m.ID, Name: m.ID})
	}
	slices.SortFunc(models, func(a, b ModelInfo) int { return strings.Compare(a.ID, b.ID) })
	return models, nil
}

func keepOpenAIModel(id string) bool {
	for _, bad := range []string{"realtime", "audio", "search"} {
		if strings.Contains(id, bad) {
			return false
		}
	}
	for _, p := range openaiModelPrefixes {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}
