// otlp_receiver.js — an OTLP/HTTP trace receiver for the tracing tests and the benchmark (issue #22). It decodes
// ExportTraceServiceRequest with the OpenTelemetry project's own generated code (npm @opentelemetry/otlp-transformer,
// pinned in scripts/install-deps.sh: OTEL_NPM, installed into .cache/otel), not with Junction's.
//
//   node otlp_receiver.js [--delay-ms N] [--discard]
// Listens on 127.0.0.1 (a free port), prints 'listening PORT', then one JSON line per span received:
//   {"service", "traceId", "spanId", "parentSpanId", "name", "kind", "traceState", "attributes": {...},
//    "links": [{"traceId", "spanId"}], "status": {"code", "message"}, "start", "end"}
// (ids as lower-case hex, times as decimal strings of Unix nanoseconds). --delay-ms holds every answer that long
// (a slow collector); --discard answers without decoding (the benchmark: the collector's work is not on junction's
// machine in production, and decoding would take a core here). Answers 200 with an empty
// ExportTraceServiceResponse; a body that does not decode gets 400 and a line {"error": "..."}.
'use strict';
const http = require('http');

let root;
try {
  root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
} catch (e) {
  console.error('otlp_receiver: @opentelemetry/otlp-transformer is not installed (scripts/install-deps.sh): ' + e.message);
  process.exit(2);
}
const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const Response = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;

let delayMs = 0;
let discard = false;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--delay-ms') delayMs = Number(process.argv[++i]);
  else if (process.argv[i] === '--discard') discard = true;
  else {
    console.error('otlp_receiver: unknown argument ' + process.argv[i]);
    process.exit(2);
  }
}

const hex = (b) => Buffer.from(b || []).toString('hex');

function anyValue(v) {
  if (v.stringValue !== undefined && v.stringValue !== null && v.stringValue !== '') return v.stringValue;
  if (v.intValue !== undefined && v.intValue !== null) return Number(v.intValue.toString());
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue;
  if (v.doubleValue !== undefined && v.doubleValue !== null) return v.doubleValue;
  return v.stringValue;
}

let received = 0;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    let lines = [];
    let bad = null;
    if (req.method !== 'POST' || req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/x-protobuf') {
      bad = `unexpected ${req.method} ${req.url} (${req.headers['content-type']})`;
    } else if (discard) {
      received += body.length; /* bytes, not spans */
    } else {
      try {
        const msg = Request.decode(body);
        for (const rs of msg.resourceSpans) {
          const attrs = {};
          for (const kv of (rs.resource && rs.resource.attributes) || []) attrs[kv.key] = anyValue(kv.value);
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              received++;
              const a = {};
              for (const kv of s.attributes) a[kv.key] = anyValue(kv.value);
              lines.push(JSON.stringify({
                service: attrs['service.name'],
                scope: ss.scope ? ss.scope.name : '',
                traceId: hex(s.traceId),
                spanId: hex(s.spanId),
                parentSpanId: hex(s.parentSpanId),
                traceState: s.traceState || '',
                flags: s.flags,
                name: s.name,
                kind: s.kind,
                start: s.startTimeUnixNano.toString(),
                end: s.endTimeUnixNano.toString(),
                attributes: a,
                links: s.links.map((l) => ({traceId: hex(l.traceId), spanId: hex(l.spanId)})),
                status: s.status ? {code: s.status.code || 0, message: s.status.message || ''} : {code: 0, message: ''},
              }));
            }
          }
        }
      } catch (e) {
        bad = 'does not decode: ' + e.message;
      }
    }
    const answer = () => {
      if (bad) {
        process.stdout.write(JSON.stringify({error: bad}) + '\n');
        res.writeHead(400);
        res.end();
        return;
      }
      if (lines.length) process.stdout.write(lines.join('\n') + '\n');
      const out = Buffer.from(Response.encode(Response.create({})).finish());
      res.writeHead(200, {'Content-Type': 'application/x-protobuf', 'Content-Length': out.length});
      res.end(out);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});
process.on('SIGTERM', () => {
  process.stderr.write(`otlp_receiver: ${received} ${discard ? 'bytes' : 'spans'} received\n`);
  process.exit(0);
});
