package llm

import (
	"context"
	"encoding/json"
	"iter"
	"slices"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// OpenAIProvider streams OpenAI Chat Completions.
type OpenAIProvider struct {
	cfg         Config
	completions openai.ChatCompletionService
}

// NewOpenAI returns an OpenAI provider for cfg (cfg.Provider is not checked).
func NewOpenAI(cfg Config) *OpenAIProvider {
	cfg.Provider = OpenAI
	return &OpenAIProvider{cfg: cfg, completions: openai.NewChatCompletionService(openaiOptions(cfg)...)}
}

// openaiOptions builds service options without openai.NewClient, which
// would read OPENAI_* variables (organisation, project, key) from the
// process environment; keys here belong to users and sites.
func openaiOptions(cfg Config) []option.RequestOption {
	opts := []option.RequestOption{
		option.WithEnvironmentProduction(),
		option.WithAPIKey(cfg.APIKey),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	if cfg.MaxRetries != 0 {
		opts = append(opts, option.WithMaxRetries(max(cfg.MaxRetries, 0)))
	}
	return opts
}

// Name implements Provider.
func (p *OpenAIProvider) Name() string { return OpenAI }

// Model implements Provider.
func (p *OpenAIProvider) Model() string { return p.cfg.model() }

// Stream implements Provider with POST /chat/completions, stream:true.
func (p *OpenAIProvider) Stream(ctx context.Context, req Request) iter.Seq[Event] {
	return func(yield func(Event) bool) {
		params := openai.ChatCompletionNewParams{
			Model:         shared.ChatModel(p.Model()),
			Messages:      openaiMessages(req.System, req.Messages),
			Tools:         openaiTools(req.Tools),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		}
		if p.cfg.MaxTokens > 0 {
			params.MaxCompletionTokens = openai.Int(int64(p.cfg.MaxTokens))
		}
		stream := p.completions.NewStreaming(ctx, params)
		defer stream.Close()

		// Tool calls arrive by index: id and name in the first delta,
		// arguments spread over the following ones.
		type openTool struct {
			index int64
			call  ToolCall
			args  strings.Builder
			ended bool
		}
		var tools []*openTool
		endTools := func() bool {
			for _, t := range tools {
				if t.ended {
					continue
				}
				t.ended = true
				t.call.Input = normaliseInput(t.args.String())
				if !yield(Event{Type: EventToolCallEnd, ToolCall: t.call}) {
					return false
				}
			}
			return true
		}
		var usage Usage
		reason := FinishOther
		for stream.Next() {
			chunk := stream.Current()
			if chunk.Usage.PromptTokens > 0 || chunk.Usage.CompletionTokens > 0 {
				usage = Usage{InputTokens: chunk.Usage.PromptTokens, OutputTokens: chunk.Usage.CompletionTokens}
			}
			for _, choice := range chunk.Choices {
				if choice.Index != 0 {
					continue
				}
				if d := choice.Delta.Content; d != "" {
					if !yield(Event{Type: EventTextDelta, Text: d}) {
						return
					}
				}
				for _, tc := range choice.Delta.ToolCalls {
					i := slices.IndexFunc(tools, func(t *openTool) bool { return t.index == tc.Index })
					if i < 0 {
						t := &openTool{index: tc.Index, call: ToolCall{ID: tc.ID, Name: tc.Function.Name}}
						tools = append(tools, t)
						i = len(tools) - 1
						if !yield(Event{Type: EventToolCallStart, ToolCall: t.call}) {
							return
						}
					}
					t := tools[i]
					if a := tc.Function.Arguments; a != "" && !t.ended {
						t.args.WriteString(a)
						if !yield(Event{Type: EventToolInputDelta, ToolCall: ToolCall{ID: t.call.ID}, Text: a}) {
							return
						}
					}
				}
				if choice.FinishReason != "" {
					reason = openaiFinishReason(choice.FinishReason)
					if !endTools() {
						return
					}
				}
			}
		}
		if err := stream.Err(); err != nil {
			yield(Event{Type: EventError, Err: wrapError(OpenAI, err)})
			return
		}
		if err := ctx.Err(); err != nil {
			yield(Event{Type: EventError, Err: err})
			return
		}
		if !endTools() {
			return
		}
		yield(Event{Type: EventFinish, FinishReason: reason, Usage: usage})
	}
}

func openaiFinishReason(r string) FinishReason {
	switch r {
	case "stop":
		return FinishStop
	case "length":
		return FinishLength
	case "tool_calls", "function_call":
		return FinishToolCalls
	case "content_filter":
		return FinishContentFilter
	}
	return FinishOther
}

func openaiTools(tools []ToolDef) []openai.ChatCompletionToolUnionParam {
	out := make([]openai.ChatCompletionToolUnionParam, 0, len(tools))
	for _, t := range tools {
		params := shared.FunctionParameters{}
		if len(t.InputSchema) > 0 {
			_ = json.Unmarshal(t.InputSchema, &params)
		}
		if len(params) == 0 {
			params = shared.FunctionParameters{"type": "object", "properties": map[string]any{}}
		}
		def := shared.FunctionDefinitionParam{Name: t.Name, Parameters: params}
		if t.Description != "" {
			def.Description = openai.String(t.Description)
		}
		out = append(out, openai.ChatCompletionFunctionTool(def))
	}
	return out
}

// openaiMessages converts the conversation. Chat Completions tool messages
// carry text only, so images attached to tool results (screenshots) follow
// the tool messages in a user message.
func openaiMessages(system string, msgs []Message) []openai.ChatCompletionMessageParamUnion {
	var out []openai.ChatCompletionMessageParamUnion
	if system != "" {
		out = append(out, openai.SystemMessage(system))
	}
	for _, m := range msgs {
		switch m.Role {
		case RoleSystem:
			out = append(out, openai.SystemMessage(m.TextContent()))
		case RoleUser:
			out = append(out, openaiUser(m.Content))
		case RoleAssistant:
			a := openai.ChatCompletionAssistantMessageParam{}
			if text := m.TextContent(); text != "" {
				a.Content.OfString = openai.String(text)
			}
			for _, p := range m.Content {
				if p.Type != PartToolCall {
					continue
				}
				in := p.Input
				if len(in) == 0 || !json.Valid(in) {
					in = json.RawMessage("{}")
				}
				a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
						ID:       p.ToolCallID,
						Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: p.ToolName, Arguments: string(in)},
					},
				})
			}
			out = append(out, openai.ChatCompletionMessageParamUnion{OfAssistant: &a})
		case RoleTool:
			var images []Part
			for _, p := range m.Content {
				if p.Type != PartToolResult {
					continue
				}
				out = append(out, openai.ToolMessage(outputText(p.Output), p.ToolCallID))
				for _, im := range p.Images {
					images = append(images, ImageURL(im.URL, im.MediaType))
				}
			}
			if len(images) > 0 {
				out = append(out, openaiUser(append([]Part{Text("Image(s) returned by the tool call above:")}, images...)))
			}
		}
	}
	return out
}

func openaiUser(parts []Part) openai.ChatCompletionMessageParamUnion {
	if len(parts) == 1 && parts[0].Type == PartText {
		return openai.UserMessage(parts[0].Text)
	}
	var content []openai.ChatCompletionContentPartUnionParam
	for _, p := range parts {
		switch p.Type {
		case PartText:
			content = append(content, openai.TextContentPart(p.Text))
		case PartImage:
			content = append(content, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: p.Image}))
		}
	}
	return openai.UserMessage(content)
}
