// llm_client.js — the load client of bench/llm.sh (plain node:http with keep-alive: the client itself must cost the
// same for every target). Two modes, JSON on stdout:
//   node llm_client.js stream URL MODEL STREAMS TOKENS ROUNDS
//       STREAMS concurrent chat/completions calls with "stream": true asking for TOKENS tokens ("count N" is the
//       test upstream's prompt for N tokens), ROUNDS times over after one unmeasured round; per call the time to the
//       first content token; checks every call got TOKENS content deltas. -> {ttft_ms: [...], tokens, seconds,
//       tokens_per_s}
//   node llm_client.js door URL STREAMS WORDS
//       STREAMS concurrent POSTs of {"text": WORDS words} to a generate_stream URL (the `tokenize` engine answers one
//       event per word), after one unmeasured round. -> {ttft_ms: [...], tokens, seconds, tokens_per_s}
//   node llm_client.js post URL BODY_JSON CONCURRENCY SECONDS
//       POSTs the body as fast as CONCURRENCY callers can for SECONDS (after a 1 s warm-up), checking status 200.
//       -> {requests, seconds, rps, p50_ms}
"use strict";
const http = require("http");

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

function post(url, body, onData) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", agent,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } }, (res) => {
      res.setEncoding("utf8");
      res.on("data", (d) => onData && onData(d));
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function streamOne(url, model, tokens) {
  const body = JSON.stringify({ model, messages: [{ role: "user", content: "count " + tokens }], stream: true,
    max_tokens: tokens });
  const t0 = process.hrtime.bigint();
  let first = 0n, got = 0, buf = "";
  const status = await post(url, body, (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
      const j = JSON.parse(ev.slice(6));
      const c = j.choices && j.choices[0];
      const content = c && (c.delta ? c.delta.content : c.text);
      if (content) {
        if (!first) first = process.hrtime.bigint();
        got++;
      }
    }
  });
  if (status !== 200 || got !== tokens) throw new Error("stream: status " + status + ", " + got + " tokens of " + tokens);
  return Number(first - t0) / 1e6;
}

async function streamMode(url, model, streams, tokens, rounds) {
  // One unmeasured round first: every connection (client -> server, and junction's to the upstream) is open and
  // kept alive before the clock starts, so connection set-up (the Python upstream's listen backlog is 5) is not
  // counted as time to first token.
  await Promise.all(Array.from({ length: streams }, () => streamOne(url, model, 4)));
  const ttft = [];
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    const calls = [];
    for (let i = 0; i < streams; i++) calls.push(streamOne(url, model, tokens));
    ttft.push(...(await Promise.all(calls)));
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const total = streams * tokens * rounds;
  return { ttft_ms: ttft, tokens: total, seconds, tokens_per_s: total / seconds };
}

async function doorOne(url, words) {
  const body = JSON.stringify({ text: Array.from({ length: words }, (_, i) => "w" + i).join(" ") });
  const t0 = process.hrtime.bigint();
  let first = 0n, got = 0;
  const status = await post(url, body, (d) => {
    if (!first) first = process.hrtime.bigint();
    got += (d.match(/data: /g) || []).length;
  });
  if (status !== 200 || got !== words) throw new Error("door: status " + status + ", " + got + " events of " + words);
  return Number(first - t0) / 1e6;
}

async function doorMode(url, streams, words) {
  await Promise.all(Array.from({ length: streams }, () => doorOne(url, 4)));
  const t0 = process.hrtime.bigint();
  const ttft = await Promise.all(Array.from({ length: streams }, () => doorOne(url, words)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { ttft_ms: ttft, tokens: streams * words, seconds, tokens_per_s: streams * words / seconds };
}

async function postMode(url, body, concurrency, seconds) {
  const lat = [];
  let n = 0;
  async function caller(until, record) {
    while (process.hrtime.bigint() < until) {
      const t = process.hrtime.bigint();
      const status = await post(url, body);
      if (status !== 200) throw new Error("post: status " + status);
      if (record) {
        lat.push(Number(process.hrtime.bigint() - t) / 1e6);
        n++;
      }
    }
  }
  const warm = process.hrtime.bigint() + 1000000000n;
  await Promise.all(Array.from({ length: concurrency }, () => caller(warm, false)));
  const t0 = process.hrtime.bigint();
  const until = t0 + BigInt(Math.round(seconds * 1e9));
  await Promise.all(Array.from({ length: concurrency }, () => caller(until, true)));
  const took = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  return { requests: n, seconds: took, rps: n / took, p50_ms: lat[Math.floor(lat.length / 2)] };
}

(async () => {
  const [mode, ...a] = process.argv.slice(2);
  const out = mode === "stream" ? await streamMode(a[0], a[1], +a[2], +a[3], +a[4])
    : mode === "door" ? await doorMode(a[0], +a[1], +a[2])
    : await postMode(a[0], a[1], +a[2], +a[3]);
  process.stdout.write(JSON.stringify(out) + "\n");
  agent.destroy();
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(1); });
