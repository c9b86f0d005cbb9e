package cortex_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/cortex"
	"github.com/owlette/server/scripts/agentsim/autonomoustest"
	"github.com/owlette/server/scripts/agentsim/sim"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/llm/llmfake"
	"github.com/owlette/server/shared/tools"
)

func chatBody(machine, text string) map[string]any {
	return map[string]any{
		"messages":  []any{map[string]any{"role": "user", "content": text}},
		"siteId":    "site-a",
		"chatId":    "chat-1",
		"machineId": machine, "machineName": machine + " (lobby)",
	}
}

func newStack(t *testing.T) *autonomoustest.Stack { return newBenchStack(t) }

func newBenchStack(tb testing.TB) *autonomoustest.Stack {
	tb.Helper()
	s := autonomoustest.New(tb, cortex.Register)
	s.SiteLLM(tb, "")
	return s
}

func toolCall(id, name, args string) llmfake.ToolCall {
	return llmfake.ToolCall{ID: id, Name: name, Args: []string{args}}
}

// A chat in which the model calls a tool: the simulated agent runs it from
// the command queue, the result streams back as a tool output and goes to
// the model's second step, and the answer streams as UI message stream
// frames ending in [DONE].
func TestChatRunsToolOnAgent(t *testing.T) {
	s := newStack(t)
	s.Agent(t, "WS-01")
	s.Fake.Enqueue(
		llmfake.Turn{Text: []string{"Let me ", "check."}, ToolCalls: []llmfake.ToolCall{toolCall("call_1", "get_process_list", "{}")}},
		llmfake.Turn{Text: []string{"TouchDesigner ", "is running."}},
	)
	resp := s.Post(t, "/api/cortex", apptest.WithCookie(s.Ten.Member.Cookie()), chatBody("WS-01", "Is TouchDesigner running?"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct, v := resp.Header.Get("Content-Type"), resp.Header.Get("X-Vercel-Ai-Ui-Message-Stream"); ct != "text/event-stream" || v != "v1" {
		t.Errorf("headers: %q %q", ct, v)
	}
	frames, done := autonomoustest.ReadUIStream(t, resp.Body)
	if !done {
		t.Fatal("stream did not end with [DONE]")
	}
	types := autonomoustest.Types(frames)
	want := []string{"start", "start-step", "text-start", "text-delta", "text-delta", "text-end", "tool-input-start"}
	if !slices.Equal(types[:len(want)], want) {
		t.Fatalf("frames start %v", types)
	}
	tail := []string{"tool-input-available", "tool-output-available", "finish-step", "start-step", "text-start", "text-delta", "text-delta", "text-end", "finish-step", "finish"}
	if !slices.Equal(types[len(types)-len(tail):], tail) {
		t.Fatalf("frames end %v", types)
	}
	if got := autonomoustest.Text(frames); got != "Let me check.TouchDesigner is running." {
		t.Errorf("text %q", got)
	}
	var output map[string]any
	for _, f := range frames {
		if f.Type() == "tool-output-available" {
			output, _ = f.Get("output").(map[string]any)
			if f.Get("toolCallId") != "call_1" {
				t.Errorf("toolCallId %v", f.Get("toolCallId"))
			}
		}
	}
	procs, _ := output["processes"].(map[string]any)
	var names []string
	for _, p := range procs {
		pm, _ := p.(map[string]any)
		names = append(names, pm["name"].(string)+"="+pm["status"].(string))
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"Signage=INACTIVE", "TouchDesigner=RUNNING"}) {
		t.Errorf("tool output from the agent: %v", output)
	}

	reqs := s.Fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model requests", len(reqs))
	}
	// The machine prompt names the machine and its configured processes.
	for _, want := range []string{"WS-01 (lobby)", "TouchDesigner", `C:\Program Files\Derivative\TouchDesigner\bin\TouchDesigner.exe`, "Signage", "— off"} {
		if !strings.Contains(reqs[0].System, want) {
			t.Errorf("system prompt lacks %q:\n%s", want, reqs[0].System)
		}
	}
	if len(reqs[0].Tools) != len(tools.UpTo(3)) {
		t.Errorf("%d tools offered, want every tier (%d)", len(reqs[0].Tools), len(tools.UpTo(3)))
	}
	last := reqs[1].Messages[len(reqs[1].Messages)-1]
	if len(last.ToolResults) != 1 || !strings.Contains(last.ToolResults[0].Content, "RUNNING") {
		t.Errorf("second step did not get the agent's result: %+v", last)
	}
	// The result was consumed and nothing is left queued (the agent
	// removes the pending key just after writing its result).
	autonomoustest.WaitFor(t, 5*time.Second, "the pending command to go", func() bool {
		for k := range s.Pending("WS-01") {
			if strings.HasPrefix(k, "mcp_") {
				return false
			}
		}
		return true
	})
	for k := range s.Completed("WS-01") {
		if strings.HasPrefix(k, "mcp_") {
			t.Errorf("completed result left unconsumed: %s", k)
		}
	}
}

// The commands relayed tools become, field by field (api.md §2.20), and
// native tools answered by an agent that failed.
func TestRelayedCommandShapes(t *testing.T) {
	s := newStack(t)
	s.Set(t, "sites/site-a/machines/M1", map[string]any{"online": true})
	seen := s.Answer(t, "M1", func(id string, cmd map[string]any) map[string]any {
		if cmd["type"] == "set_launch_mode" {
			return map[string]any{"status": "failed", "error": "Error: Invalid launch mode", "type": cmd["type"]}
		}
		return map[string]any{"status": "completed", "result": `{"hostname":"M1","b":1,"a":2}`, "type": cmd["type"]}
	})
	s.Fake.Enqueue(
		llmfake.Turn{ToolCalls: []llmfake.ToolCall{
			toolCall("c1", "get_system_info", `{}`),
			toolCall("c2", "start_process", `{"process_name":"TD","extra":"dropped"}`),
		}},
		llmfake.Turn{ToolCalls: []llmfake.ToolCall{toolCall("c3", "set_launch_mode", `{"process_name":"TD","mode":"sometimes"}`)}},
		llmfake.Turn{Text: []string{"Done."}},
	)
	resp := s.Post(t, "/api/cortex", apptest.WithCookie(s.Ten.Owner.Cookie()), chatBody("M1", "check"), nil)
	frames, done := autonomoustest.ReadUIStream(t, resp.Body)
	if resp.StatusCode != 200 || !done {
		t.Fatalf("status %d done %v", resp.StatusCode, done)
	}
	outputs := map[string]string{}
	for _, f := range frames {
		if f.Type() == "tool-output-available" {
			_, out, _ := strings.Cut(f.Raw, `"output":`)
			outputs[f.Get("toolCallId").(string)] = strings.TrimSuffix(out, "}")
		}
	}
	if outputs["c1"] != `{"hostname":"M1","b":1,"a":2}` {
		t.Errorf("mcp output %s (the agent's JSON, key order kept)", outputs["c1"])
	}
	if outputs["c2"] != `{"success":true,"result":"{\"hostname\":\"M1\",\"b\":1,\"a\":2}"}` {
		t.Errorf("native output %s", outputs["c2"])
	}
	if outputs["c3"] != `{"success":false,"error":"Error: Invalid launch mode"}` {
		t.Errorf("failed output %s", outputs["c3"])
	}
	cmds := map[string]map[string]any{}
	for len(cmds) < 3 {
		select {
		case c := <-seen:
			cmds[c["type"].(string)] = c
		case <-time.After(5 * time.Second):
			t.Fatalf("commands seen: %v", cmds)
		}
	}
	// Command times come from the injected clock (frozen in tests); ids
	// of one millisecond are bumped to stay unique.
	ms := func(v any) bool {
		n, ok := v.(int64)
		return ok && n >= s.Clock.Now().UnixMilli() && n < s.Clock.Now().UnixMilli()+100
	}
	mcp := cmds["mcp_tool_call"]
	if !regexp.MustCompile(`^mcp_\d{13}_get_system_info$`).MatchString(mcp["id"].(string)) || mcp["tool_name"] != "get_system_info" ||
		mcp["chat_id"] != "chat-1" || mcp["status"] != "pending" || mcp["timeout_seconds"] != int64(30) || !ms(mcp["timestamp"]) {
		t.Errorf("mcp command %v", mcp)
	}
	if p, ok := mcp["tool_params"].(map[string]any); !ok || len(p) != 0 {
		t.Errorf("tool_params %v", mcp["tool_params"])
	}
	restart := cmds["restart_process"]
	if !regexp.MustCompile(`^restart_process_\d{13}$`).MatchString(restart["id"].(string)) || !ms(restart["timestamp"]) {
		t.Errorf("native command %v", restart)
	}
	delete(restart, "id")
	delete(restart, "timestamp")
	if b, _ := json.Marshal(restart); string(b) != `{"process_name":"TD","status":"pending","type":"restart_process"}` {
		t.Errorf("start_process queued as %s (only process_name forwarded)", b)
	}
	if slm := cmds["set_launch_mode"]; slm["mode"] != "sometimes" || slm["process_name"] != "TD" {
		t.Errorf("set_launch_mode %v", slm)
	}
}

// Site-wide chat: every agent tool runs on each online machine (three
// simulated agents), in parallel, answered as {machines:[{machine, …}]};
// offline machines are left out.
func TestSiteWideFanOut(t *testing.T) {
	s := newStack(t)
	for _, m := range []string{"SIM-3", "SIM-1", "SIM-2"} {
		s.Agent(t, m)
	}
	s.Set(t, "sites/site-a/machines/OFF-1", map[string]any{"online": false})
	s.Fake.Enqueue(
		llmfake.Turn{ToolCalls: []llmfake.ToolCall{toolCall("c1", "get_system_info", "{}")}},
		llmfake.Turn{Text: []string{"All three are up."}},
	)
	body := chatBody("__site__", "How are the machines?")
	start := time.Now()
	resp := s.Post(t, "/api/cortex", apptest.WithCookie(s.Ten.Admin.Cookie()), body, nil)
	frames, done := autonomoustest.ReadUIStream(t, resp.Body)
	if resp.StatusCode != 200 || !done {
		t.Fatalf("status %d done %v", resp.StatusCode, done)
	}
	took := time.Since(start)
	var out map[string]any
	for _, f := range frames {
		if f.Type() == "tool-output-available" {
			out, _ = f.Get("output").(map[string]any)
		}
	}
	ms, _ := out["machines"].([]any)
	var got []string
	for _, m := range ms {
		mm := m.(map[string]any)
		got = append(got, mm["machine"].(string)+":"+mm["hostname"].(string))
	}
	if !slices.Equal(got, []string{"SIM-1:SIM-1", "SIM-2:SIM-2", "SIM-3:SIM-3"}) {
		t.Errorf("fan-out results %v", out)
	}
	if sys := s.Fake.Requests()[0].System; !strings.Contains(sys, "SIM-1, SIM-2, SIM-3") || strings.Contains(sys, "OFF-1") {
		t.Errorf("site prompt: %s", sys)
	}
	t.Logf("site-wide chat with a 3-machine fan-out: %s", took.Round(time.Millisecond))
}

// The local relay path: the machine's own Cortex (simulated, heartbeating
// cortexStatus and answering through active-chat under the rules) answers;
// its growing response.content streams back as data-stream lines.
func TestLocalCortexRelay(t *testing.T) {
	s := newStack(t)
	a := s.Agent(t, "WS-02")
	lc := a.StartLocalCortex(context.Background(), simReply("Hello ", "from ", "the ", "machine."))
	t.Cleanup(lc.Stop)
	body := chatBody("WS-02", "first question")
	body["messages"] = []any{
		map[string]any{"role": "user", "content": "first question"},
		map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": "first answer"}}},
		map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "text", "text": "and now?"},
			map[string]any{"type": "image", "image": "https://example.test/a.png", "mediaType": "image/png"},
		}},
	}
	resp := s.Post(t, "/api/cortex", apptest.WithCookie(s.Ten.Member.Cookie()), body, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("X-Vercel-Ai-Data-Stream") != "v1" {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
	lines := autonomoustest.ReadDataStream(t, resp.Body)
	var text strings.Builder
	for _, l := range lines[:len(lines)-1] {
		if l.Kind != '0' {
			t.Fatalf("unexpected line %c:%s", l.Kind, l.Value)
		}
		text.WriteString(l.Value)
	}
	if last := lines[len(lines)-1]; last.Kind != 'd' || last.Value != `{"finishReason":"stop"}` {
		t.Errorf("last line %c:%s", last.Kind, last.Value)
	}
	if text.String() != "Hello from the machine." || len(lines) < 3 {
		t.Errorf("streamed %q in %d lines", text.String(), len(lines))
	}
	if len(s.Fake.Requests()) != 0 {
		t.Error("the server's model was called on the local path")
	}
	chat := s.Doc("sites/site-a/machines/WS-02/cortex/active-chat")
	msgs, _ := json.Marshal(chat["messages"])
	imgs, _ := json.Marshal(chat["images"])
	if chat["pendingMessage"] != "and now?" || chat["chatId"] != "chat-1" || chat["machineName"] != "WS-02 (lobby)" || chat["status"] != "complete" ||
		string(msgs) != `[{"content":"first question","role":"user"},{"content":"first answer","role":"assistant"},{"content":"and now?","role":"user"}]` ||
		string(imgs) != `[{"mediaType":"image/png","url":"https://example.test/a.png"}]` {
		t.Errorf("active-chat %v", chat)
	}
}

// An error status and a silent Cortex end the relay with 3: lines.
func TestLocalCortexErrors(t *testing.T) {
	s := newStack(t)
	a := s.Agent(t, "WS-03")
	t.Run("error status", func(t *testing.T) {
		cfg := simReply("Model ", "overloaded")
		cfg.Fail = true
		lc := a.StartLocalCortex(context.Background(), cfg)
		defer lc.Stop()
		lines := autonomoustest.ReadDataStream(t, s.Post(t, "/api/cortex", apptest.WithCookie(s.Ten.Member.Cookie()), chatBody("WS-03", "hi"), nil).Body)
		last := lines[len(lines)-1]
		if last.Kind != '3' || last.Value != "Model overloaded" {
			t.Errorf("lines %+v", lines)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		cfg := simReply()
		cfg.Silent = true
		lc := a.StartLocalCortex(context.Background(), cfg)
		defer lc.Stop()
		lines := autonomoustest.ReadDataStream(t, s.Post(t, "/api/cortex", apptest.WithCookie(s.Ten.Member.Cookie()), chatBody("WS-03", "hi"), nil).Body)
		if len(lines) != 1 || lines[0].Kind != '3' || lines[0].Value != "cortex response timed out" {
			t.Errorf("lines %+v", lines)
		}
	})
}

// A stale heartbeat is not a live local Cortex: the server answers.
func TestStaleLocalCortexIsIgnored(t *testing.T) {
	s := newStack(t)
	s.Set(t, "sites/site-a/machines/M9", map[string]any{"online": true,
		"cortexStatus": map[string]any{"online": true, "lastHeartbeat": s.Clock.Now().Add(-31 * time.Second)}})
	s.Fake.Enqueue(llmfake.Turn{Text: []string{"server here"}})
	resp := s.Post(t, "/api/cortex", apptest.WithCookie(s.Ten.Member.Cookie()), chatBody("M9", "hi"), nil)
	frames, done := autonomoustest.ReadUIStream(t, resp.Body)
	if resp.StatusCode != 200 || !done || autonomoustest.Text(frames) != "server here" {
		t.Errorf("status %d frames %v", resp.StatusCode, autonomoustest.Types(frames))
	}
	if s.Doc("sites/site-a/machines/M9/cortex/active-chat") != nil {
		t.Error("active-chat written for a stale local Cortex")
	}
}

// A provider error after the stream started is an error part the browser
// shows (the provider's message), then [DONE].
func TestChatProviderError(t *testing.T) {
	s := newStack(t)
	s.Set(t, "sites/site-a/machines/M1", map[string]any{"online": true})
	s.Fake.Enqueue(llmfake.Turn{Error: &llmfake.APIError{Status: 401, Message: "invalid x-api-key"}})
	resp := s.Post(t, "/api/cortex", apptest.WithCookie(s.Ten.Member.Cookie()), chatBody("M1", "hi"), nil)
	frames, done := autonomoustest.ReadUIStream(t, resp.Body)
	if resp.StatusCode != 200 || !done || len(frames) != 2 || frames[1].Type() != "error" || frames[1].Get("errorText") != "invalid x-api-key" {
		t.Errorf("status %d frames %v", resp.StatusCode, frames)
	}
}

func simReply(chunks ...string) sim.LocalCortexConfig {
	return sim.LocalCortexConfig{Reply: func(string) []string { return chunks }}
}

// The relay's output for an object result keeps its key order and lets its
// own "machine" key win, as a JavaScript spread does.
func TestMachineEntry(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"machine":"M1","b":1,"a":2}`},
		{`{}`, `{"machine":"M1"}`},
		{`"text"`, `{"machine":"M1","result":"text"}`},
		{`[1]`, `{"machine":"M1","result":[1]}`},
	} {
		if got := string(cortex.MachineEntry("M1", json.RawMessage(c.in))); got != c.want {
			t.Errorf("%s → %s, want %s", c.in, got, c.want)
		}
	}
	var v map[string]any
	if err := json.Unmarshal(cortex.MachineEntry("M1", json.RawMessage(`{"machine":"other"}`)), &v); err != nil || v["machine"] != "other" {
		t.Errorf("spread semantics: %v %v", v, err)
	}
}

// What a chat costs in Firestore before the model answers: reads only
// (session, user and site, machine and its config, the LLM settings), no
// write.
func TestChatCost(t *testing.T) {
	s := newStack(t)
	s.Set(t, "sites/site-a/machines/M1", map[string]any{"online": true})
	cookie := apptest.WithCookie(s.Ten.Member.Cookie())
	s.Fake.Enqueue(llmfake.Turn{Text: []string{"hi"}})
	s.RPCs.Reset()
	resp := s.Post(t, "/api/cortex", cookie, chatBody("M1", "hello"), nil)
	if _, done := autonomoustest.ReadUIStream(t, resp.Body); !done {
		t.Fatal("stream not finished")
	}
	reads, writes := s.RPCs.Reads(), s.RPCs.Writes()
	if writes != 0 || reads > 4 {
		t.Errorf("%d reads, %d writes (%v), want ≤ 4 reads and no write", reads, writes, s.RPCs.Snapshot())
	}
	t.Logf("E52 server path: %d read RPCs, %d writes: %v", reads, writes, s.RPCs.Snapshot())
}
