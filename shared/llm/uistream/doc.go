// Package uistream writes the two streaming wire formats the cortex dashboard
// reads (api.md E52):
//
//   - the AI SDK v6 "UI message stream" v1: Server-Sent Events whose frames are
//     `data: <json>\n\n`, ending with `data: [DONE]\n\n`, byte for byte what the
//     SDK's toUIMessageStreamResponse / createUIMessageStreamResponse send
//     (pinned by golden tests against the real `ai` package in tools/);
//   - the legacy data-stream lines `0:`/`d:`/`3:` of the local-Cortex relay path.
//
// JSON inside the frames is written the way JavaScript's JSON.stringify writes
// it (see AppendJSON), because the bytes, not only the values, are the
// contract.
package uistream
