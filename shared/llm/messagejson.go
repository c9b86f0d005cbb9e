package llm

// JSON form of messages: AI SDK v6 model messages, the shape E52 receives
// from the browser and E53 saves as a chat's `messages`.

import (
	"encoding/json"
	"fmt"
	"strings"
)

type jsonMessage struct {
	Role    Role            `json:"role"`
	Content json.RawMessage `json:"content"`
}

type jsonPart struct {
	Type       string          `json:"type"`
	Text       *string         `json:"text,omitempty"`
	Image      string          `json:"image,omitempty"`
	Data       string          `json:"data,omitempty"` // file parts
	MediaType  string          `json:"mediaType,omitempty"`
	MimeType   string          `json:"mimeType,omitempty"` // older SDKs
	ToolCallID string          `json:"toolCallId,omitempty"`
	ToolName   string          `json:"toolName,omitempty"`
	Input      json.RawMessage `json:"input,omitempty"`
	Args       json.RawMessage `json:"args,omitempty"` // AI SDK v4
	Output     *jsonOutput     `json:"output,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"` // AI SDK v4
	IsError    bool            `json:"isError,omitempty"`
}

type jsonOutput struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

type jsonContentItem struct {
	Type      string `json:"type"`
	Text      string `json:"text,omitempty"`
	URL       string `json:"url,omitempty"`
	Data      string `json:"data,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
}

// MarshalJSON writes m as an AI SDK model message.
func (m Message) MarshalJSON() ([]byte, error) {
	if (m.Role == RoleSystem || m.Role == RoleUser) && len(m.Content) == 1 && m.Content[0].Type == PartText {
		s, _ := json.Marshal(m.Content[0].Text)
		return json.Marshal(jsonMessage{Role: m.Role, Content: s})
	}
	if m.Role == RoleSystem {
		s, _ := json.Marshal(m.TextContent())
		return json.Marshal(jsonMessage{Role: m.Role, Content: s})
	}
	parts := make([]any, 0, len(m.Content))
	for _, p := range m.Content {
		switch p.Type {
		case PartText:
			parts = append(parts, struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}{"text", p.Text})
		case PartImage:
			parts = append(parts, struct {
				Type      string `json:"type"`
				Image     string `json:"image"`
				MediaType string `json:"mediaType,omitempty"`
			}{"image", p.Image, p.MediaType})
		case PartToolCall:
			in := p.Input
			if len(in) == 0 || !json.Valid(in) {
				in = json.RawMessage("{}")
			}
			parts = append(parts, struct {
				Type       string          `json:"type"`
				ToolCallID string          `json:"toolCallId"`
				ToolName   string          `json:"toolName"`
				Input      json.RawMessage `json:"input"`
			}{"tool-call", p.ToolCallID, p.ToolName, in})
		case PartToolResult:
			parts = append(parts, struct {
				Type       string     `json:"type"`
				ToolCallID string     `json:"toolCallId"`
				ToolName   string     `json:"toolName"`
				Output     jsonOutput `json:"output"`
			}{"tool-result", p.ToolCallID, p.ToolName, resultOutput(p)})
		default:
			return nil, fmt.Errorf("llm: cannot marshal part type %q", p.Type)
		}
	}
	content, err := json.Marshal(parts)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jsonMessage{Role: m.Role, Content: content})
}

// resultOutput is the AI SDK ToolResultOutput of a result part.
func resultOutput(p Part) jsonOutput {
	out := p.Output
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	if p.IsError {
		s, _ := json.Marshal(outputText(out))
		return jsonOutput{Type: "error-text", Value: s}
	}
	if len(p.Images) > 0 {
		items := []jsonContentItem{{Type: "text", Text: outputText(out)}}
		for _, img := range p.Images {
			if mt, data, ok := parseDataURL(img.URL); ok {
				items = append(items, jsonContentItem{Type: "image-data", Data: data, MediaType: mt})
			} else {
				items = append(items, jsonContentItem{Type: "image-url", URL: img.URL})
			}
		}
		v, _ := json.Marshal(items)
		return jsonOutput{Type: "content", Value: v}
	}
	if out[0] == '"' {
		return jsonOutput{Type: "text", Value: out}
	}
	return jsonOutput{Type: "json", Value: out}
}

// UnmarshalJSON reads an AI SDK model message: content a string or an array
// of text, image, file (images only), tool-call and tool-result parts. Parts
// of other kinds (reasoning, …) are dropped.
func (m *Message) UnmarshalJSON(data []byte) error {
	var jm jsonMessage
	if err := json.Unmarshal(data, &jm); err != nil {
		return err
	}
	switch jm.Role {
	case RoleSystem, RoleUser, RoleAssistant, RoleTool:
	default:
		return fmt.Errorf("llm: unknown message role %q", jm.Role)
	}
	*m = Message{Role: jm.Role}
	c := strings.TrimSpace(string(jm.Content))
	if c == "" || c == "null" {
		return nil
	}
	if c[0] == '"' {
		var s string
		if err := json.Unmarshal(jm.Content, &s); err != nil {
			return err
		}
		m.Content = []Part{Text(s)}
		return nil
	}
	var parts []jsonPart
	if err := json.Unmarshal(jm.Content, &parts); err != nil {
		return fmt.Errorf("llm: message content: %w", err)
	}
	for _, jp := range parts {
		if p, ok := jp.part(); ok {
			m.Content = append(m.Content, p)
		}
	}
	return nil
}

func (jp jsonPart) part() (Part, bool) {
	mediaType := jp.MediaType
	if mediaType == "" {
		mediaType = jp.MimeType
	}
	switch jp.Type {
	case "text":
		if jp.Text == nil {
			return Part{}, false
		}
		return Text(*jp.Text), true
	case "image":
		return ImageURL(jp.Image, mediaType), jp.Image != ""
	case "file":
		if !strings.HasPrefix(mediaType, "image/") || jp.Data == "" {
			return Part{}, false
		}
		url := jp.Data
		if !strings.Contains(url, ":") {
			url = "data:" + mediaType + ";base64," + url
		}
		return ImageURL(url, mediaType), true
	case "tool-call":
		in := jp.Input
		if len(in) == 0 {
			in = jp.Args
		}
		return Part{Type: PartToolCall, ToolCallID: jp.ToolCallID, ToolName: jp.ToolName, Input: in}, true
	case "tool-result":
		p := Part{Type: PartToolResult, ToolCallID: jp.ToolCallID, ToolName: jp.ToolName, IsError: jp.IsError}
		if jp.Output == nil {
			p.Output = jp.Result
			return p, true
		}
		switch jp.Output.Type {
		case "error-text", "error-json":
			p.IsError = true
			p.Output = jp.Output.Value
		case "content":
			var items []jsonContentItem
			_ = json.Unmarshal(jp.Output.Value, &items)
			var text strings.Builder
			for _, it := range items {
				switch it.Type {
				case "text":
					text.WriteString(it.Text)
				case "image-url", "file-url":
					p.Images = append(p.Images, Image{URL: it.URL, MediaType: it.MediaType})
				case "image-data", "media", "file-data":
					p.Images = append(p.Images, Image{URL: "data:" + it.MediaType + ";base64," + it.Data, MediaType: it.MediaType})
				}
			}
			p.Output = textOrJSON(text.String())
		default: // text, json, execution-denied
			p.Output = jp.Output.Value
		}
		return p, true
	}
	return Part{}, false
}

// textOrJSON keeps s as JSON when it is a JSON object or array (how content
// outputs carry a JSON result as text), else as a JSON string.
func textOrJSON(s string) json.RawMessage {
	t := strings.TrimSpace(s)
	if t != "" && (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(s)
	return b
}

// parseDataURL splits data:<mediaType>;base64,<data>.
func parseDataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
	if !isBase64 {
		return "", "", false
	}
	return mediaType, data, true
}
