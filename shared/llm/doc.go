// Package llm is cortex's LLM layer: a provider-neutral message model, streaming
// providers for the Anthropic Messages API and OpenAI Chat Completions (through
// the official Go SDKs), model listing for the settings page (X12/X13), and the
// step loop that runs a model with tools (E52 chat, E53 autonomous),
// optionally streaming the AI SDK UI message stream through package uistream.
//
// Tool execution belongs to the caller: Run takes an Executor callback (the
// cortex handlers relay calls through the machines' command queue).
package llm
