package llm

import (
	"encoding/json"
	"strings"
)

// Role is who speaks a message.
type Role string

// The four roles of a conversation.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// PartType says which fields of a Part are set.
type PartType string

// Part kinds. JSON names follow AI SDK model messages so a history can be
// saved as a chat and read back by the dashboard.
const (
	PartText       PartType = "text"        // Text
	PartImage      PartType = "image"       // Image (URL or data URL), MediaType
	PartToolCall   PartType = "tool-call"   // ToolCallID, ToolName, Input
	PartToolResult PartType = "tool-result" // ToolCallID, ToolName, Output, IsError, Images
)

// Message is one turn of a conversation.
type Message struct {
	Role    Role
	Content []Part
}

// Part is one piece of a message's content.
type Part struct {
	Type PartType

	Text string // PartText

	Image     string // PartImage: http(s) URL or data: URL
	MediaType string // PartImage: e.g. image/jpeg; may be empty for URLs

	ToolCallID string          // PartToolCall, PartToolResult
	ToolName   string          // PartToolCall, PartToolResult
	Input      json.RawMessage // PartToolCall: the arguments, a JSON object

	// PartToolResult: the tool's output as JSON (a JSON string for text
	// output); IsError marks a failed call, Output then holds the message as
	// a JSON string. Images are shown to the model with the result
	// (capture_screenshot's url, E52).
	Output  json.RawMessage
	IsError bool
	Images  []Image
}

// Image is a picture handed to the model.
type Image struct {
	URL       string // http(s) URL or data: URL
	MediaType string
}

// ToolDef describes a tool to the model.
type ToolDef struct {
	Name        string
	Description string
	// InputSchema is a JSON schema object for the arguments; nil means
	// {"type":"object","properties":{}}.
	InputSchema json.RawMessage
}

// ToolCall is a model's request to run a tool.
type ToolCall struct {
	ID    string
	Name  string
	Input json.RawMessage // JSON text as the model produced it ("{}" when empty)
}

// Text returns a text part.
func Text(s string) Part { return Part{Type: PartText, Text: s} }

// ImageURL returns an image part; mediaType may be empty.
func ImageURL(url, mediaType string) Part {
	return Part{Type: PartImage, Image: url, MediaType: mediaType}
}

// SystemMessage returns a system message with text s.
func SystemMessage(s string) Message { return Message{Role: RoleSystem, Content: []Part{Text(s)}} }

// UserMessage returns a user message of the given parts.
func UserMessage(parts ...Part) Message { return Message{Role: RoleUser, Content: parts} }

// UserText returns a user message with text s.
func UserText(s string) Message { return UserMessage(Text(s)) }

// AssistantText returns an assistant message with text s.
func AssistantText(s string) Message {
	return Message{Role: RoleAssistant, Content: []Part{Text(s)}}
}

// TextContent returns the concatenated text parts of m.
func (m Message) TextContent() string {
	var b strings.Builder
	for _, p := range m.Content {
		if p.Type == PartText {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// outputText is what a model reads for a tool output: a JSON string output
// as its plain text, anything else as JSON text (what the AI SDK sends for
// "text" and "json" tool outputs).
func outputText(out json.RawMessage) string {
	if len(out) == 0 {
		return "null"
	}
	if out[0] == '"' {
		var s string
		if json.Unmarshal(out, &s) == nil {
			return s
		}
	}
	return string(out)
}
