// nodebox.mjs seals and opens secrets with Node's own crypto, in the stored
// format of api.md §1.9, written from the spec (not from the original's
// source): salt = 16 random bytes, key = scryptSync(secret, salt, 32) with
// Node's defaults (N=16384, r=8, p=1), AES-256-GCM with a 12-byte IV and a
// 16-byte tag, stored as base64(salt):base64(iv):base64(tag):base64(ct).
//
// It is the independent side of shared/llmconfig's compatibility tests
// (node_test.go), and made the fixed vector in vector_test.go:
//
//   echo '[{"op":"seal","secret":"…","plaintext":"…"}]' | node nodebox.mjs
//
// stdin: a JSON array of {op:"seal", secret, plaintext} or
// {op:"open", secret, sealed}; stdout: a JSON array of results (the sealed
// string, or the plaintext; "ERROR: …" when opening fails).
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

function seal(secret, plaintext) {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = scryptSync(secret, salt, 32);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [salt, iv, tag, ct].map((b) => b.toString('base64')).join(':');
}

function open(secret, sealed) {
  const parts = sealed.split(':');
  if (parts.length !== 4) throw new Error('invalid format');
  const [salt, iv, tag, ct] = parts.map((p) => Buffer.from(p, 'base64'));
  const key = scryptSync(secret, salt, 32);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = JSON.parse(input).map((c) => {
  if (c.op === 'seal') return seal(c.secret, c.plaintext);
  try {
    return open(c.secret, c.sealed);
  } catch (e) {
    return 'ERROR: ' + e.message;
  }
});
process.stdout.write(JSON.stringify(out));
