// test_openai_sdk.js — the OpenAI-compatible API (issue #18) through the official `openai` npm SDK, pinned in
// scripts/install-deps.sh (.cache/openai; missing = failure), pointed at http://127.0.0.1:PORT/openai/v1 of the real
// junction binary:
//   node tests/e2e/test_openai_sdk.js /path/to/junction
// (NODE_PATH must reach .cache/openai/node_modules; CTest sets it.) Checks:
// - models.list lists the language and embedding models (embed, the `chat` remote) and no others; models.retrieve;
// - embeddings.create on the built-in `embed` (float, and base64 decoded by the SDK to the same floats) equals the
//   v2 REST answer of the same engine for the same strings;
// - chat.completions.create on an `openai` remote registered against the test upstream (tests/e2e/openai_upstream.py):
//   the whole answer (text, finish_reason, usage), and stream: true iterated with the SDK (role first, the deltas in
//   order join to the same text, finish_reason, include_usage's last chunk); n: 2; completions.create;
// - the SDK's error classes: NotFoundError (unknown model, code model_not_found), BadRequestError (param named),
//   AuthenticationError (a server with a client token, wrong key), RateLimitError (--max-inflight 1 while a slow call
//   holds the slot).
// Closes with "N passed, M failed" (exit status 1 on any failure).
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const OpenAI = require("openai");

const BINARY = process.argv[2];
const HERE = __dirname;

let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) passed++;
  else failed++;
  console.log((ok ? "ok   " : "FAIL ") + what + (ok || detail === undefined ? "" : ": " + detail));
}

const children = [];
function startServer(extra) {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, ["serve", "--grpc-port", "0", "--http-port", "any", "--host", "127.0.0.1",
      "--state-dir", "none", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "", err = "";
    const timer = setTimeout(() => reject(new Error("the server did not start in 30 s: " + err)), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /serving HTTP on ([0-9.]+):(\d+)/.exec(out);
      if (m && !child.base) {
        child.base = "http://" + m[1] + ":" + m[2];
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr.on("data", (d) => { err += d; child.err = err; });
    child.on("exit", (code) => { clearTimeout(timer); if (!child.base) reject(new Error("exited " + code + ": " + err)); });
  });
}

// SIGTERM, wait for the exit, and check the server said nothing a sanitizer build says about a bug.
function stopServer(srv, what) {
  return new Promise((resolve) => {
    srv.on("exit", (code) => {
      const bad = /(AddressSanitizer|LeakSanitizer|runtime error:|ThreadSanitizer)/.exec(srv.err || "");
      check(code === 0 && !bad, what + ": clean exit, no sanitizer report", "exit " + code + " " + (bad ? (srv.err || "").slice(-2000) : ""));
      resolve();
    });
    srv.kill("SIGTERM");
  });
}

// The test upstream (openai_upstream.py): prints "serving on 127.0.0.1:PORT" once ready.
function startUpstream(extra) {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/python3", [path.join(HERE, "openai_upstream.py"), "--port", "0", ...extra],
      { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "", err = "";
    const timer = setTimeout(() => reject(new Error("the upstream did not start: " + err)), 20000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /serving on [0-9.]+:(\d+)/.exec(out);
      if (m && !child.port) {
        child.port = parseInt(m[1], 10);
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr.on("data", (d) => { err += d; });
    child.on("exit", (code) => { clearTimeout(timer); if (!child.port) reject(new Error("upstream exited " + code + ": " + err)); });
  });
}

function client(base, key, extra) {
  return new OpenAI({ apiKey: key || "unused", baseURL: base + "/openai/v1", maxRetries: 0, timeout: 30000, ...extra });
}

async function v2Embedding(base, strings) {
  const r = await fetch(base + "/v2/models/embed/infer", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ inputs: [{ name: "text", datatype: "BYTES", shape: [strings.length], data: strings }] }),
  });
  const j = await r.json();
  const out = j.outputs[0];
  const dim = out.shape[1];
  const rows = [];
  for (let i = 0; i < strings.length; i++) rows.push(out.data.slice(i * dim, (i + 1) * dim));
  return rows;
}

function sameVectors(a, b) {
  if (a.length !== b.length) return "lengths " + a.length + " vs " + b.length;
  for (let i = 0; i < a.length; i++) {
    if (a[i].length !== b[i].length) return "row " + i + " dims " + a[i].length + " vs " + b[i].length;
    for (let k = 0; k < a[i].length; k++)
      if (Math.fround(a[i][k]) !== Math.fround(b[i][k])) return "row " + i + " [" + k + "] " + a[i][k] + " vs " + b[i][k];
  }
  return "";
}

async function expectError(what, Cls, fn, check2) {
  try {
    await fn();
    check(false, what, "no error");
  } catch (e) {
    check(e instanceof Cls, what + ": " + Cls.name, e && e.constructor && e.constructor.name + " " + e.status + " " + e.message);
    if (e instanceof Cls && check2) check2(e);
  }
}

async function embeddingsAndModels(base, withChat) {
  const ai = client(base);
  const models = await ai.models.list();
  const ids = models.data.map((m) => m.id).sort();
  check(ids.includes("embed"), "models.list has embed", JSON.stringify(ids));
  check(!ids.includes("identity") && !ids.includes("fashion-cnn"), "models.list has no non-language models", JSON.stringify(ids));
  if (withChat) check(ids.includes("chat"), "models.list has the chat remote", JSON.stringify(ids));
  check(models.data.every((m) => m.object === "model" && typeof m.created === "number" && m.owned_by), "model objects",
    JSON.stringify(models.data[0]));
  const one = await ai.models.retrieve("embed");
  check(one.id === "embed" && one.object === "model", "models.retrieve embed", JSON.stringify(one));

  const strings = ["the quick brown fox", "jumps over the lazy dog", "junction"];
  const want = await v2Embedding(base, strings);
  const f = await ai.embeddings.create({ model: "embed", input: strings, encoding_format: "float" });
  check(f.object === "list" && f.data.length === 3 && f.data[2].index === 2 && f.data[0].object === "embedding",
    "embeddings: list of 3", JSON.stringify(f).slice(0, 200));
  check(f.model === "embed" && f.usage && f.usage.prompt_tokens === 10 && f.usage.total_tokens === 10,
    "embeddings: model and usage (10 words)", JSON.stringify(f.usage));
  let d = sameVectors(f.data.map((x) => x.embedding), want);
  check(d === "", "embeddings float == v2 REST of embed", d);
  const b = await ai.embeddings.create({ model: "embed", input: strings, encoding_format: "base64" });
  // The SDK hands back the base64 string when asked for it explicitly; decode it as little-endian float32.
  const decoded = b.data.map((x) => {
    const buf = Buffer.from(x.embedding, "base64");
    return Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
  });
  d = sameVectors(decoded, want);
  check(typeof b.data[0].embedding === "string" && d === "", "embeddings base64 (LE float32) == v2 REST", d);
  // Without encoding_format the SDK asks for base64 itself and decodes it into floats.
  const dflt = await ai.embeddings.create({ model: "embed", input: "junction" });
  d = sameVectors([dflt.data[0].embedding], [want[2]]);
  check(d === "", "embeddings, the SDK's default (base64 decoded by the SDK) == v2 REST", d);

  await expectError("unknown model", OpenAI.NotFoundError,
    () => ai.embeddings.create({ model: "no-such-model", input: "x" }),
    (e) => check(e.status === 404 && e.code === "model_not_found" && e.param === "model", "404 code model_not_found, param model",
      e.status + " " + e.code + " " + e.param));
  await expectError("bad request", OpenAI.BadRequestError,
    () => ai.embeddings.create({ model: "embed", input: [] }),
    (e) => check(e.status === 400 && e.param === "input" && /empty/.test(e.message), "400 names param input", e.param + " " + e.message));
  await expectError("a model that does not generate", OpenAI.BadRequestError,
    () => ai.chat.completions.create({ model: "embed", messages: [{ role: "user", content: "hi" }] }),
    (e) => check(e.param === "model" && /does not generate/.test(e.message), "400 param model", e.param + " " + e.message));
  await expectError("bad temperature", OpenAI.BadRequestError,
    () => ai.chat.completions.create({ model: "embed", messages: [{ role: "user", content: "hi" }], temperature: 5 }),
    (e) => check(e.param === "temperature", "400 param temperature", e.param + " " + e.message));
}

function writeRemotes(up) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "junction-oai-"));
  const file = path.join(dir, "remotes.json");
  const ep = "http://127.0.0.1:" + up.port + "/v1";
  fs.writeFileSync(file, JSON.stringify([
    { name: "chat", endpoint: ep, protocol: "openai", model: "test-chat" },
    { name: "complete", endpoint: ep, protocol: "openai", model: "test-chat", options: { kind: "completions" } },
  ]));
  return file;
}

async function chat(base) {
  const ai = client(base);
  const msgs = [{ role: "system", content: "be brief" }, { role: "user", content: "tokens reach the SDK in order" }];
  const whole = await ai.chat.completions.create({ model: "chat", messages: msgs, temperature: 0.2, seed: 7 });
  check(whole.object === "chat.completion" && /^chatcmpl-/.test(whole.id) && whole.model === "chat",
    "chat: a chat.completion", JSON.stringify(whole).slice(0, 200));
  const c0 = whole.choices[0];
  check(c0.message.role === "assistant" && c0.message.content === "tokens reach the SDK in order" &&
    c0.finish_reason === "stop" && c0.index === 0, "chat: the upstream's answer, finish_reason stop", JSON.stringify(c0));
  check(whole.usage.prompt_tokens === 8 && whole.usage.completion_tokens === 6 && whole.usage.total_tokens === 14,
    "chat: usage from the upstream", JSON.stringify(whole.usage));

  const stream = await ai.chat.completions.create({ model: "chat", messages: msgs, stream: true,
    stream_options: { include_usage: true } });
  const chunks = [];
  for await (const ch of stream) chunks.push(ch);
  const deltas = chunks.filter((c) => c.choices.length && c.choices[0].delta.content).map((c) => c.choices[0].delta.content);
  check(chunks.length >= 3 && chunks[0].choices[0].delta.role === "assistant", "stream: the role first",
    JSON.stringify(chunks[0]));
  check(JSON.stringify(deltas) === JSON.stringify(["tokens ", "reach ", "the ", "SDK ", "in ", "order"]),
    "stream: the deltas in order, one per upstream token", JSON.stringify(deltas));
  const fin = chunks.filter((c) => c.choices.length && c.choices[0].finish_reason);
  check(fin.length === 1 && fin[0].choices[0].finish_reason === "stop", "stream: one finish_reason stop",
    JSON.stringify(fin));
  const last = chunks[chunks.length - 1];
  check(last.choices.length === 0 && last.usage && last.usage.completion_tokens === 6 && last.usage.prompt_tokens === 8,
    "stream: include_usage's last chunk", JSON.stringify(last));
  check(chunks.every((c) => c.id === chunks[0].id && c.object === "chat.completion.chunk"), "stream: one id, chunk objects");

  // The SDK's own stream helper accumulates the same message.
  const runner = ai.chat.completions.stream({ model: "chat", messages: msgs, max_tokens: 3 });
  const final = await runner.finalChatCompletion();
  check(final.choices[0].message.content === "tokens reach the " && final.choices[0].finish_reason === "length",
    "stream helper: max_tokens 3 -> finish_reason length", JSON.stringify(final.choices[0]));

  const two = await ai.chat.completions.create({ model: "chat", messages: msgs, n: 2, max_completion_tokens: 2 });
  check(two.choices.length === 2 && two.choices[1].index === 1 && two.choices[1].message.content === "tokens reach " &&
    two.choices[0].finish_reason === "length", "chat: n = 2", JSON.stringify(two.choices));

  const cmp = await ai.completions.create({ model: "complete", prompt: "once upon a time", max_tokens: 16 });
  check(cmp.object === "text_completion" && cmp.choices[0].text === "once upon a time" && cmp.choices[0].finish_reason === "stop",
    "completions.create", JSON.stringify(cmp));
  const cs = await ai.completions.create({ model: "complete", prompt: "once upon a time", stream: true });
  let text = "";
  for await (const c of cs) text += c.choices.length ? c.choices[0].text : "";
  check(text === "once upon a time", "completions stream", text);

  await expectError("chat on an unknown model", OpenAI.NotFoundError,
    () => ai.chat.completions.create({ model: "gpt-nope", messages: msgs, stream: true }));
  await expectError("chat with a bad message", OpenAI.BadRequestError,
    () => ai.chat.completions.create({ model: "chat", messages: [{ role: "user" }] }),
    (e) => check(e.param === "messages[0].content", "400 param messages[0].content", e.param));
}

async function authErrors() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "junction-oai-"));
  const tok = path.join(dir, "client.token");
  fs.writeFileSync(tok, "s3cret-client-token\n");
  const srv = await startServer(["--client-token-file", tok]);
  await expectError("wrong key", OpenAI.AuthenticationError,
    () => client(srv.base, "wrong").models.list(),
    (e) => check(e.status === 401 && e.code === "invalid_api_key", "401 code invalid_api_key", e.status + " " + e.code));
  await expectError("no key", OpenAI.AuthenticationError,
    () => client(srv.base, "x", { defaultHeaders: { Authorization: null } }).embeddings.create({ model: "embed", input: "a" }));
  const ok = await client(srv.base, "s3cret-client-token").embeddings.create({ model: "embed", input: "a" });
  check(ok.data.length === 1, "the client token is accepted");
  await stopServer(srv, "server with a client token");
}

async function rateLimit() {
  const srv = await startServer(["--max-inflight", "1"]);
  // A slow generate-extension call on `burn` holds the only slot of the HTTP doors' dispatcher (the generate and
  // OpenAI doors are admitted against --max-inflight, as the gRPC doors are).
  const slow = fetch(srv.base + "/v2/models/burn/generate", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ input: [[1]], parameters: { burn_ms: 1500, burn_mode: "sleep" } }),
  });
  await new Promise((r) => setTimeout(r, 300));
  await expectError("shedding", OpenAI.RateLimitError,
    () => client(srv.base).embeddings.create({ model: "embed", input: "a" }),
    (e) => check(e.status === 429 && e.code === "rate_limit_exceeded" && /max-inflight/.test(e.message),
      "429 code rate_limit_exceeded naming --max-inflight", e.status + " " + e.code + " " + e.message));
  const r = await slow;
  check(r.status === 200, "the slow call still succeeds", r.status);
  await stopServer(srv, "server with --max-inflight 1");
}

async function main() {
  const up = await startUpstream([]);
  const srv = await startServer(["--remotes", writeRemotes(up)]);
  await embeddingsAndModels(srv.base, true);
  await chat(srv.base);
  await stopServer(srv, "server with the remotes");
  await authErrors();
  await rateLimit();
}

main().catch((e) => check(false, "test script raised", e && e.stack)).finally(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  console.log(passed + " passed, " + failed + " failed");
  process.exit(failed ? 1 : 0);
});
