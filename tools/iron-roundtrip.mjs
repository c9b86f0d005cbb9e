// iron-roundtrip.mjs: a tiny bridge to iron-session for the Go cross-implementation
// tests in shared/iron (iron_node_test.go). Run it from tools/ so that
// `iron-session` resolves from tools/node_modules.
//
// It reads a JSON command from stdin and writes the result to stdout:
//
//   {"op":"seal","password":P,"data":D}    -> the seal string from iron-session's sealData(D, {password: P})
//   {"op":"unseal","password":P,"seal":S}  -> JSON.stringify of unsealData(S, {password: P})
//
// P is a string or a {"id": "password"} map, exactly as iron-session accepts.
// Optional fields, all for deterministic tests:
//   "ttl":    seconds, passed to sealData/unsealData (iron-session's default: 14 days)
//   "nowMs":  freeze Date.now() at this value (ms since the epoch)
//   "random": hex bytes returned, in order, by crypto.getRandomValues instead of
//             real randomness (iron draws encryption salt 32 B, iv 16 B, mac salt 32 B)
//
// Batch mode: stdin may instead be a JSON array of such commands (each with its
// own optional nowMs/random); stdout is then a JSON array of the strings the
// single commands would print. Node starts slowly, so tests batch.
//
// Anything iron-session throws is printed to stderr and the exit code is 1.
// Note that unsealData does not throw for expired / bad-hmac / unknown-password /
// wrong-component-count seals: it resolves to {} for those.
import nodeCrypto from "node:crypto";
import { sealData, unsealData } from "iron-session";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const realDateNow = Date.now;
const realGetRandomValues = nodeCrypto.webcrypto.getRandomValues;

function setClock(nowMs) {
  if (nowMs === undefined) {
    Date.now = realDateNow;
    return;
  }
  if (typeof nowMs !== "number") throw new Error("nowMs must be a number");
  Date.now = () => nowMs;
}

// uncrypto (used by iron-session) calls nodeCrypto.webcrypto.getRandomValues
// at call time, so replacing it here is enough.
function setRandom(hex) {
  if (hex === undefined) {
    nodeCrypto.webcrypto.getRandomValues = realGetRandomValues;
    return;
  }
  if (typeof hex !== "string" || !/^([0-9a-f]{2})*$/.test(hex)) {
    throw new Error("random must be a lowercase hex string");
  }
  const pool = Buffer.from(hex, "hex");
  let offset = 0;
  nodeCrypto.webcrypto.getRandomValues = (array) => {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    if (offset + bytes.length > pool.length) {
      throw new Error(`fake random pool exhausted (${pool.length} bytes)`);
    }
    bytes.set(pool.subarray(offset, offset + bytes.length));
    offset += bytes.length;
    return array;
  };
}

async function run(cmd) {
  setClock(cmd.nowMs);
  setRandom(cmd.random);
  const opts = { password: cmd.password };
  if (cmd.ttl !== undefined) opts.ttl = cmd.ttl;

  switch (cmd.op) {
    case "seal":
      return await sealData(cmd.data, opts);
    case "unseal":
      return JSON.stringify(await unsealData(cmd.seal, opts));
    default:
      throw new Error(`unknown op ${JSON.stringify(cmd.op)} (want "seal" or "unseal")`);
  }
}

async function main() {
  const input = JSON.parse(await readStdin());
  if (!Array.isArray(input)) {
    process.stdout.write(await run(input));
    return;
  }
  const results = [];
  for (const [i, cmd] of input.entries()) {
    try {
      results.push(await run(cmd));
    } catch (err) {
      throw new Error(`command ${i} (${cmd && cmd.op}): ${err && err.message}`, { cause: err });
    }
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => {
  process.stderr.write(`iron-roundtrip: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
