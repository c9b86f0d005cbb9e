// ai-uistream.mjs: a bridge to the AI SDK (`ai`, pinned in package.json) for
// the golden tests of shared/llm and shared/llm/uistream. Run it from tools/
// so that `ai` resolves from tools/node_modules.
//
// stdin: a JSON array of commands; stdout: a JSON array with one result per
// command. Node starts slowly, so tests batch.
//
//   {"op":"stream-text", "steps":[...], "tools":["name",...], "results":{...},
//    "messageId":"m1", "maxSteps":10, "onError":"message"}
//     The SDK's own bytes for a model output: streamText() with a MockLanguageModelV3
//     whose doStream call i returns steps[i], a list of LanguageModelV3 stream parts
//     ({type:"text-delta",id,delta}, {type:"tool-call",toolCallId,toolName,input}, …;
//     a "finish" part may give finishReason as a string and omit usage), or, when
//     steps[i] is {"throw":"message"}, throws that error. Each named tool has a
//     server-side execute returning results[toolCallId].output or throwing
//     results[toolCallId].error. The response comes from
//     toUIMessageStreamResponse() (with originalMessages: [] and
//     generateMessageId when messageId is set; onError returning the error's message
//     when onError is "message").
//     -> {"status", "headers": {name: value}, "body"}
//
//   {"op":"ui-stream", "chunks":[...], "messageId":"m1"}
//     createUIMessageStream() whose execute writes the given UI message chunks,
//     sent through createUIMessageStreamResponse(). The SDK puts a generated
//     messageId into a "start" chunk that has none: messageId fixes it.
//     -> {"status", "headers", "body"}
//
//   {"op":"read", "url":"http://…"}  or  {"op":"read", "body":"…", "headers":{…}}
//     The browser side: DefaultChatTransport (POST to url, or a fetch answering
//     body) parses and validates the stream, readUIMessageStream builds the
//     assistant UIMessage.
//     -> {"message": <last UIMessage snapshot>, "chunks": [<parsed chunks>], "errors": [<messages>]}
//
// Anything that throws outside those contracts is printed to stderr with exit code 1.
import {
  DefaultChatTransport,
  createUIMessageStream,
  createUIMessageStreamResponse,
  jsonSchema,
  readUIMessageStream,
  stepCountIs,
  streamText,
  tool,
} from "ai";
import { MockLanguageModelV3, convertArrayToReadableStream } from "ai/test";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function responseResult(res) {
  const headers = {};
  for (const [k, v] of res.headers.entries()) headers[k] = v;
  return { status: res.status, headers, body: await res.text() };
}

const defaultUsage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

function modelPart(part) {
  if (part.type !== "finish") return part;
  const finishReason =
    typeof part.finishReason === "string" ? { unified: part.finishReason, raw: part.finishReason } : part.finishReason;
  return { ...part, finishReason, usage: part.usage ?? defaultUsage };
}

async function streamTextOp(cmd) {
  let call = 0;
  const model = new MockLanguageModelV3({
    doStream: async () => {
      const step = cmd.steps[call++];
      if (step == null) throw new Error(`the model was called ${call} times; the scenario has ${cmd.steps.length} steps`);
      if (!Array.isArray(step)) throw new Error(step.throw);
      return { stream: convertArrayToReadableStream([{ type: "stream-start", warnings: [] }, ...step.map(modelPart)]) };
    },
  });
  const tools = {};
  for (const name of cmd.tools ?? []) {
    tools[name] = tool({
      description: name,
      inputSchema: jsonSchema({ type: "object", properties: {} }),
      execute: async (_input, { toolCallId }) => {
        const r = (cmd.results ?? {})[toolCallId];
        if (r == null) throw new Error(`no scripted result for ${toolCallId}`);
        if (r.error != null) throw new Error(r.error);
        return r.output;
      },
    });
  }
  const result = streamText({
    model,
    prompt: "hi",
    tools,
    stopWhen: stepCountIs(cmd.maxSteps ?? 10),
    maxRetries: 0,
    onError() {}, // the error reaches the stream; keep stderr quiet
  });
  const opts = {};
  if (cmd.messageId != null) {
    opts.originalMessages = [];
    opts.generateMessageId = () => cmd.messageId;
  }
  if (cmd.onError === "message") opts.onError = (e) => (e instanceof Error ? e.message : String(e));
  return responseResult(result.toUIMessageStreamResponse(opts));
}

async function uiStreamOp(cmd) {
  const stream = createUIMessageStream({
    generateId: () => cmd.messageId ?? "generated-id",
    execute: ({ writer }) => {
      for (const c of cmd.chunks) writer.write(c);
    },
  });
  return responseResult(createUIMessageStreamResponse({ stream }));
}

async function readOp(cmd) {
  const errors = [];
  const chunks = [];
  const fetchImpl =
    cmd.url != null
      ? undefined
      : async () => new Response(cmd.body, { status: 200, headers: cmd.headers ?? {} });
  const transport = new DefaultChatTransport({ api: cmd.url ?? "http://fake.invalid/api/cortex", fetch: fetchImpl });
  const stream = await transport.sendMessages({
    chatId: "chat-1",
    messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] }],
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: undefined,
  });
  const tee = stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        chunks.push(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  let message = null;
  for await (const m of readUIMessageStream({ stream: tee, onError: (e) => errors.push(e?.message ?? String(e)) })) {
    message = m;
  }
  return { message, chunks, errors };
}

const ops = { "stream-text": streamTextOp, "ui-stream": uiStreamOp, read: readOp };

const cmds = JSON.parse(await readStdin());
const out = [];
for (const cmd of cmds) {
  const op = ops[cmd.op];
  if (op == null) throw new Error(`unknown op ${cmd.op}`);
  out.push(await op(cmd));
}
process.stdout.write(JSON.stringify(out));
