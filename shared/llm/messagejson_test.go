package llm_test

import (
	"encoding/json"
	"testing"

	"github.com/owlette/server/shared/llm"
)

// E52 bodies carry AI SDK model messages: string content, or text and
// image parts.
func TestUnmarshalChatMessages(t *testing.T) {
	body := `[
		{"role":"user","content":"hello"},
		{"role":"assistant","content":[{"type":"text","text":"hi"},{"type":"reasoning","text":"hmm"}]},
		{"role":"user","content":[{"type":"text","text":"look"},{"type":"image","image":"https://h/i.jpg","mediaType":"image/jpeg"},
			{"type":"file","data":"AAAA","mediaType":"image/png"}]}
	]`
	var msgs []llm.Message
	if err := json.Unmarshal([]byte(body), &msgs); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[0].TextContent() != "hello" || msgs[1].TextContent() != "hi" || len(msgs[1].Content) != 1 {
		t.Fatalf("messages %+v", msgs)
	}
	c := msgs[2].Content
	if len(c) != 3 || c[1].Image != "https://h/i.jpg" || c[1].MediaType != "image/jpeg" || c[2].Image != "data:image/png;base64,AAAA" {
		t.Errorf("parts %+v", c)
	}
	var bad llm.Message
	if err := json.Unmarshal([]byte(`{"role":"robot","content":"x"}`), &bad); err == nil {
		t.Error("unknown role accepted")
	}
}

// A run's history serialises as AI SDK model messages (E53 saves them as
// the chat's messages) and reads back unchanged.
func TestMessagesRoundTrip(t *testing.T) {
	msgs := []llm.Message{
		llm.UserText("TD crashed"),
		{Role: llm.RoleAssistant, Content: []llm.Part{
			llm.Text("Checking."),
			{Type: llm.PartToolCall, ToolCallID: "c1", ToolName: "capture_screenshot", Input: json.RawMessage(`{"monitor":0}`)},
			{Type: llm.PartToolCall, ToolCallID: "c2", ToolName: "get_system_info", Input: json.RawMessage(`{}`)},
			{Type: llm.PartToolCall, ToolCallID: "c3", ToolName: "read_file", Input: json.RawMessage(`{}`)},
		}},
		{Role: llm.RoleTool, Content: []llm.Part{
			{Type: llm.PartToolResult, ToolCallID: "c1", ToolName: "capture_screenshot", Output: json.RawMessage(`{"url":"https://h/s.jpg"}`),
				Images: []llm.Image{{URL: "https://h/s.jpg", MediaType: "image/jpeg"}}},
			{Type: llm.PartToolResult, ToolCallID: "c2", ToolName: "get_system_info", Output: json.RawMessage(`{"cpu":1}`)},
			{Type: llm.PartToolResult, ToolCallID: "c3", ToolName: "read_file", Output: json.RawMessage(`"Access denied"`), IsError: true},
		}},
		llm.AssistantText("OUTCOME: fine"),
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"role":"user","content":"TD crashed"},` +
		`{"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool-call","toolCallId":"c1","toolName":"capture_screenshot","input":{"monitor":0}},{"type":"tool-call","toolCallId":"c2","toolName":"get_system_info","input":{}},{"type":"tool-call","toolCallId":"c3","toolName":"read_file","input":{}}]},` +
		`{"role":"tool","content":[{"type":"tool-result","toolCallId":"c1","toolName":"capture_screenshot","output":{"type":"content","value":[{"type":"text","text":"{\"url\":\"https://h/s.jpg\"}"},{"type":"image-url","url":"https://h/s.jpg"}]}},` +
		`{"type":"tool-result","toolCallId":"c2","toolName":"get_system_info","output":{"type":"json","value":{"cpu":1}}},` +
		`{"type":"tool-result","toolCallId":"c3","toolName":"read_file","output":{"type":"error-text","value":"Access denied"}}]},` +
		`{"role":"assistant","content":[{"type":"text","text":"OUTCOME: fine"}]}]`
	if string(b) != want {
		t.Errorf("marshalled\n%s\nwant\n%s", b, want)
	}
	var back []llm.Message
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if string(again) != want {
		t.Errorf("round trip changed it:\n%s", again)
	}
}
