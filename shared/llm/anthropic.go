package llm

import (
	"context"
	"encoding/json"
	"iter"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

const defaultAnthropicMaxTokens = 8192

// AnthropicProvider streams the Anthropic Messages API.
type AnthropicProvider struct {
	cfg    Config
	client anthropic.Client
}

// NewAnthropic returns an Anthropic provider for cfg (cfg.Provider is not
// checked).
func NewAnthropic(cfg Config) *AnthropicProvider {
	cfg.Provider = Anthropic
	return &AnthropicProvider{cfg: cfg, client: anthropic.NewClient(anthropicOptions(cfg)...)}
}

// anthropicOptions builds the client options. The key goes in x-api-key,
// the header the Messages API documents, and nothing is read from the
// environment: keys are per user or site, never the process's.
func anthropicOptions(cfg Config) []option.RequestOption {
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithHeader("x-api-key", cfg.APIKey),
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
func (p *AnthropicProvider) Name() string { return Anthropic }

// Model implements Provider.
func (p *AnthropicProvider) Model() string { return p.cfg.model() }

// Stream implements Provider with POST /v1/messages, stream:true.
func (p *AnthropicProvider) Stream(ctx context.Context, req Request) iter.Seq[Event] {
	return func(yield func(Event) bool) {
		maxTokens := p.cfg.MaxTokens
		if maxTokens <= 0 {
			maxTokens = defaultAnthropicMaxTokens
		}
		params := anthropic.MessageNewParams{
			Model:     anthropic.Model(p.Model()),
			MaxTokens: int64(maxTokens),
			Messages:  anthropicMessages(req.Messages),
			Tools:     anthropicTools(req.Tools),
		}
		if req.System != "" {
			params.System = []anthropic.TextBlockParam{{Text: req.System}}
		}
		stream := p.client.Messages.NewStreaming(ctx, params)
		defer stream.Close()

		// Open tool_use blocks by content index; their input arrives as
		// partial_json pieces.
		type openTool struct {
			call  ToolCall
			input strings.Builder
		}
		tools := map[int64]*openTool{}
		var usage Usage
		reason := FinishOther
		for stream.Next() {
			ev := stream.Current()
			switch ev.Type {
			case "message_start":
				usage.InputTokens = ev.Message.Usage.InputTokens
				usage.OutputTokens = ev.Message.Usage.OutputTokens
			case "content_block_start":
				if ev.ContentBlock.Type == "tool_use" {
					t := &openTool{call: ToolCall{ID: ev.ContentBlock.ID, Name: ev.ContentBlock.Name}}
					tools[ev.Index] = t
					if !yield(Event{Type: EventToolCallStart, ToolCall: t.call}) {
						return
					}
				}
			case "content_block_delta":
				switch ev.Delta.Type {
				case "text_delta":
					if ev.Delta.Text != "" && !yield(Event{Type: EventTextDelta, Text: ev.Delta.Text}) {
						return
					}
				case "input_json_delta":
					t := tools[ev.Index]
					if t == nil || ev.Delta.PartialJSON == "" {
						continue
					}
					t.input.WriteString(ev.Delta.PartialJSON)
					if !yield(Event{Type: EventToolInputDelta, ToolCall: ToolCall{ID: t.call.ID}, Text: ev.Delta.PartialJSON}) {
						return
					}
				}
			case "content_block_stop":
				t := tools[ev.Index]
				if t == nil {
					continue
				}
				delete(tools, ev.Index)
				t.call.Input = normaliseInput(t.input.String())
				if !yield(Event{Type: EventToolCallEnd, ToolCall: t.call}) {
					return
				}
			case "message_delta":
				if ev.Delta.StopReason != "" {
					reason = anthropicFinishReason(ev.Delta.StopReason)
				}
				// message_delta usage is cumulative.
				if ev.Usage.OutputTokens > 0 {
					usage.OutputTokens = ev.Usage.OutputTokens
				}
				if ev.Usage.InputTokens > 0 {
					usage.InputTokens = ev.Usage.InputTokens
				}
			}
		}
		if err := stream.Err(); err != nil {
			yield(Event{Type: EventError, Err: wrapError(Anthropic, err)})
			return
		}
		if err := ctx.Err(); err != nil {
			yield(Event{Type: EventError, Err: err})
			return
		}
		yield(Event{Type: EventFinish, FinishReason: reason, Usage: usage})
	}
}

// normaliseInput makes an empty argument text "{}" (a tool without
// parameters streams nothing), as the AI SDK does.
func normaliseInput(s string) json.RawMessage {
	if strings.TrimSpace(s) == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(s)
}

func anthropicFinishReason(r anthropic.StopReason) FinishReason {
	switch r {
	case anthropic.StopReasonEndTurn, anthropic.StopReasonStopSequence, anthropic.StopReasonPauseTurn:
		return FinishStop
	case anthropic.StopReasonMaxTokens, anthropic.StopReasonModelContextWindowExceeded:
		return FinishLength
	case anthropic.StopReasonToolUse:
		return FinishToolCalls
	case anthropic.StopReasonRefusal:
		return FinishContentFilter
	}
	return FinishOther
}

func anthropicTools(tools []ToolDef) []anthropic.ToolUnionParam {
	out := make([]anthropic.ToolUnionParam, 0, len(tools))
	for _, t := range tools {
		schema := anthropic.ToolInputSchemaParam{}
		var m map[string]any
		if len(t.InputSchema) > 0 && json.Unmarshal(t.InputSchema, &m) == nil {
			schema.Properties = m["properties"]
			if req, ok := m["required"].([]any); ok {
				for _, r := range req {
					if s, ok := r.(string); ok {
						schema.Required = append(schema.Required, s)
					}
				}
			}
			delete(m, "properties")
			delete(m, "required")
			delete(m, "type")
			if len(m) > 0 {
				schema.ExtraFields = m
			}
		}
		if schema.Properties == nil {
			schema.Properties = map[string]any{}
		}
		u := anthropic.ToolUnionParamOfTool(schema, t.Name)
		if t.Description != "" {
			u.OfTool.Description = anthropic.String(t.Description)
		}
		out = append(out, u)
	}
	return out
}

// anthropicMessages converts the conversation. System messages inside it
// become user text (the API takes the system prompt separately); tool
// results go in a user turn, merged with neighbouring user content, since
// the API wants user and assistant to alternate.
func anthropicMessages(msgs []Message) []anthropic.MessageParam {
	type turn struct {
		assistant bool
		blocks    []anthropic.ContentBlockParamUnion
	}
	var turns []turn
	for _, m := range msgs {
		var blocks []anthropic.ContentBlockParamUnion
		for _, p := range m.Content {
			if b, ok := anthropicBlock(p); ok {
				blocks = append(blocks, b)
			}
		}
		if len(blocks) == 0 {
			continue
		}
		assistant := m.Role == RoleAssistant
		if n := len(turns); n > 0 && turns[n-1].assistant == assistant {
			turns[n-1].blocks = append(turns[n-1].blocks, blocks...)
			continue
		}
		turns = append(turns, turn{assistant: assistant, blocks: blocks})
	}
	out := make([]anthropic.MessageParam, len(turns))
	for i, t := range turns {
		if t.assistant {
			out[i] = anthropic.NewAssistantMessage(t.blocks...)
		} else {
			out[i] = anthropic.NewUserMessage(t.blocks...)
		}
	}
	return out
}

func anthropicBlock(p Part) (anthropic.ContentBlockParamUnion, bool) {
	switch p.Type {
	case PartText:
		if p.Text == "" {
			return anthropic.ContentBlockParamUnion{}, false
		}
		return anthropic.NewTextBlock(p.Text), true
	case PartImage:
		img, ok := anthropicImage(Image{URL: p.Image, MediaType: p.MediaType})
		if !ok {
			return anthropic.ContentBlockParamUnion{}, false
		}
		return anthropic.ContentBlockParamUnion{OfImage: img}, true
	case PartToolCall:
		in := p.Input
		if len(in) == 0 || !json.Valid(in) {
			in = json.RawMessage("{}")
		}
		return anthropic.NewToolUseBlock(p.ToolCallID, in, p.ToolName), true
	case PartToolResult:
		res := anthropic.ToolResultBlockParam{
			ToolUseID: p.ToolCallID,
			Content: []anthropic.ToolResultBlockParamContentUnion{
				{OfText: &anthropic.TextBlockParam{Text: outputText(p.Output)}},
			},
		}
		if p.IsError {
			res.IsError = anthropic.Bool(true)
		}
		for _, im := range p.Images {
			if img, ok := anthropicImage(im); ok {
				res.Content = append(res.Content, anthropic.ToolResultBlockParamContentUnion{OfImage: img})
			}
		}
		return anthropic.ContentBlockParamUnion{OfToolResult: &res}, true
	}
	return anthropic.ContentBlockParamUnion{}, false
}

func anthropicImage(im Image) (*anthropic.ImageBlockParam, bool) {
	if mt, data, ok := parseDataURL(im.URL); ok {
		if mt == "" {
			mt = im.MediaType
		}
		return &anthropic.ImageBlockParam{Source: anthropic.ImageBlockParamSourceUnion{
			OfBase64: &anthropic.Base64ImageSourceParam{Data: data, MediaType: anthropic.Base64ImageSourceMediaType(mt)},
		}}, true
	}
	if strings.HasPrefix(im.URL, "https://") || strings.HasPrefix(im.URL, "http://") {
		return &anthropic.ImageBlockParam{Source: anthropic.ImageBlockParamSourceUnion{
			OfURL: &anthropic.URLImageSourceParam{URL: im.URL},
		}}, true
	}
	return nil, false
}
