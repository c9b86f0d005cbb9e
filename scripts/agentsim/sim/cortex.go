package sim

import (
	"context"
	"strings"
	"sync"
	"time"
)

// CrashProcess simulates a crash of the configured process called name that
// the agent could not relaunch: it stops (no PID, status STOPPED) until a
// restart_process or a launch-mode change starts it again, and the next
// heartbeat reports it. It reports whether the process exists.
func (a *Agent) CrashProcess(name string) bool {
	m := a.m
	m.mu.Lock()
	p := m.find(name)
	if p != nil {
		p.pid, p.status, p.updated = 0, StatusStopped, time.Now()
	}
	m.mu.Unlock()
	if p != nil {
		a.Heartbeat()
	}
	return p != nil
}

// ProcessStatus returns the simulated status of the process called name
// ("" when it is not configured).
func (a *Agent) ProcessStatus(name string) string {
	m := a.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.find(name); p != nil {
		return p.status
	}
	return ""
}

// LocalCortexConfig describes a simulated local Cortex (datamodel.md §5.14):
// the optional process on the machine that heartbeats cortexStatus on the
// machine document and answers chats the server relays through
// machines/{m}/cortex/active-chat.
type LocalCortexConfig struct {
	// Reply returns the answer to a relayed chat as the chunks it streams
	// (nil: an echo of the pending message, word by word). An empty reply
	// with Fail set reports an error instead.
	Reply func(pendingMessage string) []string
	// Fail makes every chat end with status "error" after the reply's
	// chunks (the chunks are the error text).
	Fail bool
	// Silent makes the Cortex heartbeat but never answer (timeout tests).
	Silent bool

	Heartbeat time.Duration // cortexStatus every 10 s
	Poll      time.Duration // active-chat every 1.5 s
	Chunk     time.Duration // one response write per 0.5 s
}

// LocalCortex is a running simulated local Cortex.
type LocalCortex struct {
	a    *Agent
	cfg  LocalCortexConfig
	stop context.CancelFunc
	done chan struct{}

	mu       sync.Mutex
	answered []string // chatIds answered, in order
}

// StartLocalCortex starts a simulated local Cortex on the agent's machine,
// writing through the agent's own Firestore client (the rules of
// datamodel.md §12.1 apply). Start it once the agent has started: the
// agent's start-up flag writes replace the whole machine document.
func (a *Agent) StartLocalCortex(ctx context.Context, cfg LocalCortexConfig) *LocalCortex {
	cfg.Heartbeat = a.cfg.scaled(orDur(cfg.Heartbeat, 10*time.Second))
	cfg.Poll = a.cfg.scaled(orDur(cfg.Poll, 1500*time.Millisecond))
	cfg.Chunk = a.cfg.scaled(orDur(cfg.Chunk, 500*time.Millisecond))
	if cfg.Reply == nil {
		cfg.Reply = func(msg string) []string { return strings.SplitAfter("Local cortex here. You said: "+msg, " ") }
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &LocalCortex{a: a, cfg: cfg, stop: cancel, done: make(chan struct{})}
	// The first heartbeat is written before Start returns, so a chat sent
	// right after finds the Cortex live.
	if err := c.heartbeat(ctx, true, "idle"); err != nil {
		a.failed("local cortex heartbeat", err)
	}
	go c.run(ctx)
	return c
}

// Stop ends the Cortex and marks it offline.
func (c *LocalCortex) Stop() {
	c.stop()
	<-c.done
}

// Answered returns the chat ids the Cortex has answered.
func (c *LocalCortex) Answered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.answered...)
}

func (c *LocalCortex) chatPath() string { return c.a.machinePath() + "/cortex/active-chat" }

func (c *LocalCortex) heartbeat(ctx context.Context, online bool, status string) error {
	return c.a.fs.Commit(ctx, "cortex-status", c.a.fs.MergeWrite(c.a.machinePath(), []Update{
		{FieldPath{"cortexStatus", "online"}, online},
		{FieldPath{"cortexStatus", "status"}, status},
		{FieldPath{"cortexStatus", "lastHeartbeat"}, ServerTimestamp},
	}))
}

func (c *LocalCortex) run(ctx context.Context) {
	defer close(c.done)
	defer func() {
		octx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.heartbeat(octx, false, "offline")
	}()
	hb := time.NewTicker(c.cfg.Heartbeat)
	defer hb.Stop()
	poll := time.NewTicker(c.cfg.Poll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hb.C:
			if err := c.heartbeat(ctx, true, "idle"); err != nil && ctx.Err() == nil {
				c.a.failed("local cortex heartbeat", err)
			}
		case <-poll.C:
			if c.cfg.Silent {
				continue
			}
			doc, err := c.a.fs.Get(ctx, "get-active-chat", c.chatPath())
			if err != nil {
				if ctx.Err() == nil {
					c.a.failed("local cortex poll", err)
				}
				continue
			}
			if doc == nil || doc.Fields["status"] != "pending" {
				continue
			}
			c.answer(ctx, doc.Fields)
		}
	}
}

// answer streams a reply the way the local Cortex does: status processing,
// then streaming with the whole text so far in response.content (one write
// per chunk), then complete (or error).
func (c *LocalCortex) answer(ctx context.Context, chat map[string]any) {
	msg, _ := chat["pendingMessage"].(string)
	chatID, _ := chat["chatId"].(string)
	write := func(ups ...Update) bool {
		ups = append(ups, Update{FieldPath{"updatedAt"}, ServerTimestamp})
		if err := c.a.fs.Commit(ctx, "active-chat", c.a.fs.MergeWrite(c.chatPath(), ups)); err != nil {
			c.a.failed("local cortex reply", err)
			return false
		}
		return true
	}
	if !write(Update{FieldPath{"status"}, "processing"}) {
		return
	}
	_ = c.heartbeat(ctx, true, "thinking")
	var text strings.Builder
	for _, chunk := range c.cfg.Reply(msg) {
		if sleep(ctx, c.cfg.Chunk) != nil {
			return
		}
		text.WriteString(chunk)
		if !write(Update{FieldPath{"status"}, "streaming"}, Update{FieldPath{"response", "content"}, text.String()}) {
			return
		}
	}
	final := []Update{
		{FieldPath{"response", "content"}, text.String()},
		{FieldPath{"response", "complete"}, true},
		{FieldPath{"response", "metadata"}, map[string]any{"chatId": chatID, "durationMs": 1}},
	}
	if c.cfg.Fail {
		final = append(final[:1], Update{FieldPath{"status"}, "error"})
	} else {
		final = append(final, Update{FieldPath{"status"}, "complete"})
	}
	if write(final...) {
		c.mu.Lock()
		c.answered = append(c.answered, chatID)
		c.mu.Unlock()
	}
	_ = c.heartbeat(ctx, true, "idle")
}
