// pages.js — the console's pages (window.JunctionPages[name](ctx)), drawn from /console/api/... and the REST
// routes with app.js's helpers. Names and labels always go in as text.
"use strict";

(function () {
  const J = window.Junction;
  const el = J.el;
  const P = (window.JunctionPages = {});
  const enc = encodeURIComponent;

  function card(title, value, id) {
    return el("div", { class: "card" }, el("div", { class: "card-title" }, title), el("div", { class: "card-value", id }, value));
  }

  function table(head, rows, cls) {
    return el("table", { class: cls || "grid" },
      el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows));
  }

  // ---- overview ----
  function sparkline(host, title, color) {
    const box = el("div", { class: "spark" }, el("div", { class: "card-title" }, title));
    host.appendChild(box);
    if (!window.uPlot) {
      box.appendChild(el("p", { class: "muted" }, "charts not built in (scripts/install-deps.sh --console)"));
      return { set: () => {} };
    }
    const plot = new window.uPlot({
      width: 420, height: 110, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false } },
      axes: [{ size: 24, values: (u, v) => v.map((s) => s + "s") }, { size: 44 }],
      series: [{}, { stroke: color, width: 2, fill: color + "22" }],
    }, [[0], [0]], box);
    return { set: (xs, ys) => plot.setData([xs.length ? xs : [0], ys.length ? ys : [0]]) };
  }

  P.overview = async function (ctx) {
    const main = ctx.main;
    main.appendChild(el("h1", {}, "Overview"));
    const cards = el("div", { class: "cards" });
    main.appendChild(cards);
    const charts = el("div", { class: "charts" });
    main.appendChild(charts);
    const req = sparkline(charts, "Requests / s", "#2f6fdf");
    const err = sparkline(charts, "Errors / s", "#d9453d");
    const errors = el("div", {});
    main.appendChild(el("h2", {}, "Last errors"));
    main.appendChild(errors);
    async function refresh() {
      const o = await J.api("/console/api/overview");
      if (!ctx.live()) return;
      J.clear(cards);
      J.append(cards, [
        card("Health", o.health, "ov-health"),
        card("Uptime", J.fmt.duration(o.uptime_s), "ov-uptime"),
        card("Resident memory", J.fmt.bytes(o.rss_bytes), "ov-rss"),
        card("Open streams", o.open_streams, "ov-streams"),
        card("Models ready", o.models_ready + " / " + o.models, "ov-models"),
        card("Requests (errors)", o.requests_total + " (" + o.errors_total + ")", "ov-requests"),
      ]);
      const xs = o.rates.map((r) => Math.round(r[0]));
      req.set(xs, o.rates.map((r) => r[1]));
      err.set(xs, o.rates.map((r) => r[2]));
      J.clear(errors);
      if (!o.last_errors.length) errors.appendChild(el("p", { class: "muted" }, "No errors answered since the start."));
      else
        errors.appendChild(table(["When", "Status", "Request", "Message"], o.last_errors.map((e) =>
          el("tr", {}, el("td", {}, new Date(e.unix_ms).toLocaleTimeString()), el("td", {}, e.status),
            el("td", { class: "mono" }, e.request), el("td", {}, e.message)))));
    }
    await refresh();
    ctx.every(2000, refresh);
  };

  // ---- models ----
  function signatureTable(ports) {
    return table(["Port", "Kind", "Datatype", "Shape", "Labels"], ports.map((p) =>
      el("tr", {}, el("td", { class: "mono" }, p.name), el("td", {}, p.kind), el("td", {}, p.datatype),
        el("td", { class: "mono" }, J.fmt.shape(p.shape)),
        el("td", { class: "labels" }, (p.labels || []).join(", ")))));
  }

  function modelDetail(ctx, m) {
    const main = ctx.main;
    main.appendChild(el("h1", {}, "Model ", el("span", { class: "name" }, m.name)));
    if (m.description) main.appendChild(el("p", { class: "muted" }, m.description));
    main.appendChild(el("div", { class: "cards" },
      card("Versions", m.versions.join(", ")), card("Type / platform", m.type + (m.platform ? " / " + m.platform : "")),
      card("Ready", m.ready ? "yes" : "no"), card("Latency p50 / p99 (ms)", J.fmt.ms(m.latency_ms.p50) + " / " + J.fmt.ms(m.latency_ms.p99)),
      card("Requests / s", J.fmt.rate(m.rate_per_s)), card("Answered (failed)", m.requests.ok + m.requests.failed + " (" + m.requests.failed + ")")));
    const links = el("p", {}, J.link("/console/try/" + enc(m.name), "Try it"));
    if (m.pipeline) J.append(links, [" · ", J.link("/console/pipelines/" + enc(m.name), "Show the graph")]);
    main.appendChild(links);
    main.appendChild(el("h2", {}, "Inputs"));
    main.appendChild(signatureTable(m.signature.inputs));
    main.appendChild(el("h2", {}, "Outputs"));
    main.appendChild(signatureTable(m.signature.outputs));
  }

  P.models = async function (ctx) {
    const main = ctx.main;
    if (ctx.arg) {
      const doc = await J.api("/console/api/models");
      const m = doc.models.find((x) => x.name === ctx.arg);
      if (!m) throw new Error("no model named '" + ctx.arg + "'");
      modelDetail(ctx, m);
      return;
    }
    main.appendChild(el("h1", {}, "Models"));
    const host = el("div", {});
    main.appendChild(host);
    async function refresh() {
      const doc = await J.api("/console/api/models");
      if (!ctx.live()) return;
      J.clear(host).appendChild(table(
        ["Name", "Versions", "Type", "Platform", "Ready", "Inputs", "Outputs", "p50 ms", "p90 ms", "p99 ms", "req/s"],
        doc.models.map((m) => el("tr", { "data-model": m.name },
          el("td", {}, J.link((m.pipeline ? "/console/pipelines/" : "/console/models/") + enc(m.name), m.name)),
          el("td", {}, m.versions.join(", ")), el("td", {}, m.type), el("td", {}, m.platform),
          el("td", { class: m.ready ? "ok" : "bad" }, m.ready ? "ready" : "not ready"),
          el("td", { class: "mono" }, m.signature.inputs.map((p) => p.name + ":" + p.kind).join(" ")),
          el("td", { class: "mono" }, m.signature.outputs.map((p) => p.name + ":" + p.kind).join(" ")),
          el("td", { class: "num" }, J.fmt.ms(m.latency_ms.p50)), el("td", { class: "num" }, J.fmt.ms(m.latency_ms.p90)),
          el("td", { class: "num" }, J.fmt.ms(m.latency_ms.p99)), el("td", { class: "num" }, J.fmt.rate(m.rate_per_s))))));
    }
    await refresh();
    ctx.every(2000, refresh);
  };

  // ---- pipeline graphs ----
  const NODE_W = 210, LINE = 15;
  // A line's width in px at about `px` per character (the graph's fonts), plus the box's padding.
  const textWidth = (s, px) => Math.ceil(String(s).length * px) + 18;

  function portLine(p) {
    return p.name + ": " + p.kind + " " + p.datatype + J.fmt.shape(p.shape);
  }

  // Nodes: "in:NAME" (pipeline inputs), "step:ID", "out:NAME"; edges carry the conversions as their label.
  function layout(g) {
    const graph = new window.dagre.graphlib.Graph({ multigraph: true });
    // Left to right reads best for a few steps; long pipelines go top to bottom (scrolling down, not sideways).
    graph.setGraph({ rankdir: g.steps.length > 6 ? "TB" : "LR", nodesep: 24, ranksep: 60, marginx: 12, marginy: 12 });
    graph.setDefaultEdgeLabel(() => ({}));
    const ioWidth = (title, p) => Math.max(150, textWidth(title, 7.2), p ? textWidth(p.kind + " " + p.datatype + J.fmt.shape(p.shape), 6.5) : 0);
    for (const p of g.inputs) graph.setNode("in:" + p.name, { width: ioWidth("input " + p.name, p), height: 2 * LINE + 14, kind: "input", port: p });
    for (const s of g.steps) {
      const lines = 3 + s.inputs.length + s.outputs.length;
      const w = Math.max(NODE_W, textWidth(s.id, 7.2), textWidth("model " + s.model, 6.6),
        ...s.inputs.concat(s.outputs).map((p) => textWidth("▸ " + portLine(p), 6.5)));
      graph.setNode("step:" + s.id, { width: w, height: lines * LINE + 16, kind: "step", step: s });
    }
    g.outputs.forEach((o, i) => graph.setNode("out:" + o.name, { width: ioWidth("output " + o.name, g.output_types[i]), height: 2 * LINE + 14, kind: "output", out: o, type: g.output_types[i] }));
    const src = (f) => (f.step === null ? "in:" + f.port : "step:" + f.step);
    g.edges.forEach((e, i) => {
      const label = e.conversions.join(" | ");
      graph.setEdge(src(e.from), "step:" + e.to.step,
        { edge: e, label, width: label ? textWidth(label, 6.2) : 0, height: label ? LINE + 4 : 0, labelpos: "c" }, "e" + i);
    });
    g.outputs.forEach((o, i) => graph.setEdge(src(o.from), "out:" + o.name, { out: o, label: "", width: 0, height: 0 }, "o" + i));
    window.dagre.layout(graph);
    return graph;
  }

  function text(x, y, s, cls) {
    return el("svg:text", { x, y, class: cls }, s);
  }

  // The graph as SVG, scaled down to `room` px wide when it is wider.
  function drawGraph(g, room) {
    const graph = layout(g);
    const gw = graph.graph().width, gh = graph.graph().height;
    const scale = room > 0 && gw > room ? room / gw : 1;
    const svg = el("svg:svg", { class: "graph", viewBox: "0 0 " + gw + " " + gh, width: Math.floor(gw * scale), height: Math.ceil(gh * scale), id: "pipeline-graph" });
    svg.appendChild(el("svg:defs", {}, el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      el("svg:path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))));
    for (const ref of graph.edges()) {
      const e = graph.edge(ref);
      const d = e.points.map((p, i) => (i ? "L" : "M") + p.x.toFixed(1) + " " + p.y.toFixed(1)).join(" ");
      const from = ref.v.replace(/^(in|step):/, ""), to = ref.w.replace(/^(step|out):/, "");
      const key = (ref.v.startsWith("in:") ? "input:" + from : from) + "->" + (ref.w.startsWith("out:") ? "output:" + to : to);
      const grp = el("svg:g", { class: "edge" + (e.label ? " converted" : ""), "data-edge": key });
      grp.appendChild(el("svg:path", { d, "marker-end": "url(#arrow)" }));
      if (e.edge) grp.appendChild(el("svg:title", {}, (e.edge.from.step === null ? e.edge.from.port : e.edge.from.step + "." + e.edge.from.port) + " → " + e.edge.to.step + "." + e.edge.to.port));
      if (e.label) grp.appendChild(text(e.x, e.y + 4, e.label, "edge-label"));
      svg.appendChild(grp);
    }
    for (const id of graph.nodes()) {
      const n = graph.node(id);
      const x = n.x - n.width / 2, y = n.y - n.height / 2;
      const grp = el("svg:g", { class: "node " + n.kind, transform: "translate(" + x.toFixed(1) + "," + y.toFixed(1) + ")" });
      grp.appendChild(el("svg:rect", { width: n.width, height: n.height, rx: 6 }));
      if (n.kind === "step") {
        const s = n.step;
        grp.setAttribute("data-step", s.id);
        grp.setAttribute("tabindex", "0");
        grp.setAttribute("role", "link");
        let row = 1;
        grp.appendChild(text(8, row++ * LINE + 2, s.id, "node-title"));
        grp.appendChild(text(8, row++ * LINE + 2, "model " + s.model, "node-model"));
        for (const p of s.inputs) grp.appendChild(text(8, row++ * LINE + 2, "▸ " + portLine(p), "port in"));
        for (const p of s.outputs) grp.appendChild(text(8, row++ * LINE + 2, "◂ " + portLine(p), "port out"));
        const lat = s.latency_ms;
        grp.appendChild(text(8, row * LINE + 2, lat.count ? "p50 " + J.fmt.ms(lat.p50) + " ms · p99 " + J.fmt.ms(lat.p99) + " ms · " + lat.count + " runs" : "no runs yet", "latency"));
        const open = () => J.go((s.pipeline ? "/console/pipelines/" : "/console/models/") + enc(s.model));
        grp.addEventListener("click", open);
        grp.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
      } else {
        const p = n.kind === "input" ? n.port : n.type;
        const name = n.kind === "input" ? n.port.name : n.out.name;
        grp.setAttribute(n.kind === "input" ? "data-input" : "data-output", name);
        grp.appendChild(text(8, LINE + 2, (n.kind === "input" ? "input " : "output ") + name, "node-title"));
        if (p) grp.appendChild(text(8, 2 * LINE + 2, p.kind + " " + p.datatype + J.fmt.shape(p.shape), "port"));
      }
      svg.appendChild(grp);
    }
    return svg;
  }

  P.pipelines = async function (ctx) {
    const main = ctx.main;
    if (!ctx.arg) {
      main.appendChild(el("h1", {}, "Pipelines"));
      const doc = await J.api("/console/api/models");
      const list = doc.models.filter((m) => m.pipeline);
      main.appendChild(list.length ? el("ul", { class: "plain" }, list.map((m) =>
        el("li", {}, J.link("/console/pipelines/" + enc(m.name), m.name), " ", el("span", { class: "muted" }, m.description))))
        : el("p", { class: "muted" }, "No pipelines registered."));
      return;
    }
    const g = await J.api("/console/api/pipelines/" + enc(ctx.arg));
    main.appendChild(el("h1", {}, "Pipeline ", el("span", { class: "name" }, g.name)));
    if (g.description) main.appendChild(el("p", { class: "muted" }, g.description));
    await J.script("/console/assets/dagre.min.js").catch(() => {
      throw new Error("graph layout not built in (scripts/install-deps.sh --console)");
    });
    const host = el("div", { class: "graph-host" });
    main.appendChild(host);
    main.appendChild(el("p", { class: "muted" }, "Click a step to open its model. Edge labels are the conversions the compiler inserted; latencies are live (every 2 s)."));
    main.appendChild(el("details", {}, el("summary", {}, "Compiled plan"), el("pre", { class: "plan" }, g.plan)));
    host.appendChild(drawGraph(g, host.clientWidth - 14));
    ctx.every(2000, async () => {
      const fresh = await J.api("/console/api/pipelines/" + enc(ctx.arg));
      if (!ctx.live()) return;
      J.clear(host).appendChild(drawGraph(fresh, host.clientWidth - 14));
    });
  };

  // ---- remote engines ----
  P.remotes = async function (ctx) {
    const main = ctx.main;
    main.appendChild(el("h1", {}, "Remote engines"));
    const host = el("div", {});
    main.appendChild(host);
    async function refresh() {
      const doc = await J.api("/console/api/remotes");
      if (!ctx.live()) return;
      J.clear(host);
      if (!doc.remotes.length) {
        host.appendChild(el("p", { class: "muted" }, "No remote engines registered (Admin.RegisterEngine, --remotes FILE, or Heartbeat)."));
        return;
      }
      host.appendChild(table(["Name", "Endpoint", "Protocol", "Remote model", "Ready", "Breaker", "Lease age", "Last health error"],
        doc.remotes.map((r) => el("tr", { "data-remote": r.name },
          el("td", {}, J.link("/console/models/" + enc(r.name), r.name)), el("td", { class: "mono" }, r.endpoint),
          el("td", {}, r.protocol), el("td", {}, r.model + (r.version ? " v" + r.version : "")),
          el("td", { class: r.ready ? "ok" : "bad" }, r.ready ? "ready" : "not ready"),
          el("td", { class: r.breaker === "closed" ? "ok" : "bad" }, r.breaker),
          el("td", {}, r.leased ? (r.since_heartbeat_ms / 1000).toFixed(1) + " s" : "no lease"),
          el("td", { class: "bad" }, r.health_error)))));
    }
    await refresh();
    ctx.every(2000, refresh);
  };

  // ---- try it ----
  function readAsDataURL(file) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result);
      r.onerror = () => reject(new Error("cannot read " + file.name));
      r.readAsDataURL(file);
    });
  }

  function inputField(p) {
    const id = "in-" + p.name;
    // An AUDIO_TENSOR port takes an audio file too: the broker decodes and resamples it (issue #17).
    if (p.kind === "IMAGE" || p.kind === "AUDIO" || p.kind === "AUDIO_TENSOR") {
      const preview = el("div", { class: "preview" });
      const input = el("input", { type: "file", id, "data-port": p.name, accept: p.kind === "IMAGE" ? "image/*" : "audio/*" });
      input.addEventListener("change", () => {
        J.clear(preview);
        const f = input.files[0];
        if (!f) return;
        const url = URL.createObjectURL(f);
        preview.appendChild(p.kind === "IMAGE" ? el("img", { src: url, alt: f.name }) : el("audio", { src: url, controls: "" }));
      });
      return { node: el("div", {}, input, preview), value: async () => (input.files[0] ? readAsDataURL(input.files[0]) : undefined),
        file: () => (input.files[0] ? input.files[0].name : null) };
    }
    if (p.kind === "TEXT") {
      const input = el("textarea", { id, "data-port": p.name, rows: 2 });
      return { node: input, value: async () => input.value };
    }
    const input = el("input", { type: "text", id, "data-port": p.name, placeholder: "JSON numbers, shape " + J.fmt.shape(p.shape) });
    return { node: input, value: async () => (input.value.trim() ? JSON.parse(input.value) : undefined) };
  }

  function shellQuote(s) {
    return "'" + String(s).replace(/'/g, "'\\''") + "'";
  }

  function answerView(doc) {
    const box = el("div", { class: "answer" });
    const scores = doc && doc.scores;
    if (doc && typeof doc.label === "string") {
      box.appendChild(el("div", { class: "top-label", id: "answer-label" }, doc.label, " ", el("span", { class: "muted" }, typeof doc.score === "number" ? doc.score.toFixed(3) : "")));
    }
    if (Array.isArray(scores) && scores.every((s) => s && typeof s.label === "string" && typeof s.score === "number")) {
      box.appendChild(el("div", { class: "bars" }, scores.map(({ label: k, score: v }) =>
        el("div", { class: "bar-row" }, el("span", { class: "bar-label" }, k),
          el("progress", { max: 1, value: Math.max(0, Math.min(1, v)) }), el("span", { class: "num" }, v.toFixed(3))))));
    }
    box.appendChild(el("details", { open: scores || doc.label ? null : "" }, el("summary", {}, "Answer as JSON"),
      el("pre", { class: "json" }, JSON.stringify(doc, null, 2))));
    return box;
  }

  P.try = async function (ctx) {
    const main = ctx.main;
    main.appendChild(el("h1", {}, "Try it"));
    const doc = await J.api("/console/api/models");
    const select = el("select", { id: "try-model" }, doc.models.map((m) => el("option", { value: m.name }, m.name)));
    const form = el("form", { id: "try-form", class: "try" });
    const out = el("div", { id: "try-answer" });
    const cmds = el("div", { id: "try-commands" });
    main.appendChild(el("p", {}, el("label", {}, "Model ", select)));
    main.appendChild(form);
    main.appendChild(out);
    main.appendChild(cmds);
    function build() {
      const m = doc.models.find((x) => x.name === select.value);
      J.clear(form);
      J.clear(out);
      J.clear(cmds);
      if (!m) return;
      const fields = m.signature.inputs.map((p) => ({ p, f: inputField(p) }));
      for (const { p, f } of fields)
        form.appendChild(el("div", { class: "field" }, el("label", { for: "in-" + p.name }, p.name + " (" + p.kind + " " + p.datatype + J.fmt.shape(p.shape) + ")"), f.node));
      form.appendChild(el("button", { type: "submit", id: "try-run" }, "Run"));
      form.onsubmit = async (ev) => {
        ev.preventDefault();
        J.clear(out);
        const body = {};
        try {
          for (const { p, f } of fields) {
            const v = await f.value();
            if (v !== undefined) body[p.name] = v;
          }
          const path = "/v1/models/" + enc(m.name) + ":predict";
          const answer = await J.api(path + "?all=1", { method: "POST", json: body });
          out.appendChild(answerView(answer));
          J.clear(cmds);
          // Files go in by name: base64 in the shell for curl, @FILE for junction infer.
          const parts = [];
          const args = [];
          for (const { p, f } of fields) {
            if (body[p.name] === undefined) continue;
            const file = f.file && f.file();
            const value = typeof body[p.name] === "string" ? body[p.name] : JSON.stringify(body[p.name]);
            parts.push(file ? JSON.stringify(p.name) + ": \"'\"$(base64 -w0 " + shellQuote(file) + ")\"'\"" : JSON.stringify(p.name) + ": " + JSON.stringify(body[p.name]).replace(/'/g, "'\\''"));
            args.push("--input " + shellQuote(p.name + "=" + (file ? "@" + file : value)));
          }
          cmds.appendChild(el("h2", {}, "As a command"));
          cmds.appendChild(el("pre", { class: "cmd", id: "try-curl" }, "curl -s -H 'Content-Type: application/json' " + location.origin + path + " --data '{" + parts.join(", ") + "}'"));
          cmds.appendChild(el("pre", { class: "cmd", id: "try-cli" }, "junction infer --model " + shellQuote(m.name) + " " + args.join(" ")));
        } catch (e) {
          if (e instanceof J.AuthError) return;
          out.appendChild(el("p", { class: "error-box" }, e.message));
        }
      };
    }
    select.addEventListener("change", () => {
      history.replaceState(null, "", "/console/try/" + enc(select.value));
      build();
    });
    if (ctx.arg && doc.models.some((m) => m.name === ctx.arg)) select.value = ctx.arg;
    build();
  };
  // ---- evaluation ----
  function heatClass(v) {
    return "h" + (v <= 0 ? 0 : Math.min(5, 1 + Math.floor(v * 4.999)));
  }

  function reportView(r) {
    const box = el("div", { id: "eval-report" });
    box.appendChild(el("div", { class: "cards" },
      card("Model", r.model || "–"), card("Accuracy", (100 * r.accuracy).toFixed(1) + " %", "eval-accuracy"),
      card("Examples (failed)", r.examples + " (" + r.failed + ")"),
      card("Macro F1", r.macro.f1.toFixed(3)), card("Latency p50 / p99 (ms)", J.fmt.ms(r.latency_ms.p50) + " / " + J.fmt.ms(r.latency_ms.p99))));
    box.appendChild(el("h2", {}, "Per class"));
    box.appendChild(table(["Class", "Precision", "Recall", "F1", "Support"], r.labels.map((l) => {
      const c = r.per_class[l];
      return el("tr", {}, el("td", {}, l), el("td", { class: "num" }, c.precision.toFixed(3)), el("td", { class: "num" }, c.recall.toFixed(3)),
        el("td", { class: "num" }, c.f1.toFixed(3)), el("td", { class: "num" }, c.support));
    })));
    box.appendChild(el("h2", {}, "Confusion matrix (rows: truth, columns: prediction; shade: share of the row)"));
    box.appendChild(el("table", { class: "grid heat", id: "eval-confusion" },
      el("thead", {}, el("tr", {}, el("th", {}, ""), r.labels.map((l) => el("th", {}, l)))),
      el("tbody", {}, r.confusion.map((row, i) => {
        const total = row.reduce((a, b) => a + b, 0);
        return el("tr", {}, el("th", {}, r.labels[i]), row.map((v) => el("td", { class: heatClass(total ? v / total : 0) }, v)));
      }))));
    if (r.errors && r.errors.length) {
      box.appendChild(el("h2", {}, "Examples that failed"));
      box.appendChild(table(["Line", "Error"], r.errors.map((e) => el("tr", {}, el("td", { class: "num" }, e.line), el("td", {}, e.error)))));
    }
    return box;
  }

  P.evaluate = async function (ctx) {
    const main = ctx.main;
    main.appendChild(el("h1", {}, "Evaluation"));
    const doc = await J.api("/console/api/models");
    const usable = doc.models.filter((m) => m.signature.outputs.some((p) => (p.kind === "CLASSIFICATION" && p.labels) || p.kind === "TEXT"));
    const select = el("select", { id: "eval-model" }, usable.map((m) => el("option", { value: m.name }, m.name)));
    if (ctx.arg && usable.some((m) => m.name === ctx.arg)) select.value = ctx.arg;
    const file = el("input", { type: "file", id: "eval-file", accept: ".jsonl,.json,.txt,application/jsonl" });
    const run = el("button", { type: "submit", id: "eval-run" }, "Evaluate");
    const out = el("div", { id: "eval-out" });
    const form = el("form", { class: "try" },
      el("div", { class: "field" }, el("label", { for: "eval-model" }, "Model"), select),
      el("div", { class: "field" }, el("label", { for: "eval-file" }, "Labelled examples (JSONL: one {\"<input>\": value, ..., \"label\": \"...\"} per line, images in base64)"), file),
      run);
    main.appendChild(form);
    main.appendChild(out);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      J.clear(out);
      if (!file.files[0]) {
        out.appendChild(el("p", { class: "error-box" }, "Pick a JSONL file first."));
        return;
      }
      out.appendChild(el("p", { class: "muted" }, "Running…"));
      try {
        const body = await file.files[0].text();
        const r = await J.api("/console/api/evaluate/" + enc(select.value), { method: "POST", body, headers: { "Content-Type": "application/jsonl" } });
        J.clear(out).appendChild(reportView(r));
      } catch (e) {
        if (e instanceof J.AuthError) return;
        J.clear(out).appendChild(el("p", { class: "error-box" }, e.message));
      }
    });
    const last = await J.api("/console/api/evaluation");
    if (last.report) {
      out.appendChild(el("h2", {}, "Last report"));
      out.appendChild(reportView(last.report));
    } else {
      out.appendChild(el("p", { class: "muted" }, "No evaluation run yet."));
    }
  };

  // ---- admin ----
  // The line of the spec text an error message concerns: a parse error's "line N", a field path
  // ("steps[1].inputs.x"), or a step / input / output named in quotes; 0 when none is found.
  function lineOf(textValue, msg) {
    const lines = textValue.split("\n");
    let m = /line (\d+)/.exec(msg);
    if (m) return Number(m[1]);
    const find = (re, from) => {
      for (let i = from || 0; i < lines.length; i++) if (re.test(lines[i])) return i + 1;
      return 0;
    };
    const quoted = (s) => JSON.stringify(s).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    m = /steps\[(\d+)\](?:\.inputs\.([^:\s]+))?/.exec(msg);
    if (m) {
      let at = 0, seen = -1;
      for (let i = 0; i < lines.length && seen < Number(m[1]); i++) if (/"id"\s*:/.test(lines[i]) && i + 1 > find(/"steps"\s*:/)) { seen++; at = i + 1; }
      if (m[2]) return find(new RegExp(quoted(m[2]) + "\\s*:"), at - 1) || at;
      return at;
    }
    m = /step '([^']*)'/.exec(msg);
    if (m) {
      const at = find(new RegExp('"id"\\s*:\\s*' + quoted(m[1])));
      const rest = msg.slice(m.index);
      const port = /input '([^']*)'/.exec(rest), model = /model '([^']*)'/.exec(rest);
      if (at && port) return find(new RegExp(quoted(port[1]) + "\\s*:"), at - 1) || at;
      if (at && model) return find(new RegExp('"model"\\s*:\\s*' + quoted(model[1])), at - 1) || at;
      if (at) return at;
    }
    m = /(?:output|input|model) '([^']*)'/.exec(msg);
    if (m) return find(new RegExp(quoted(m[1])));
    return 0;
  }

  function numbered(textValue, bad, msg) {
    return el("div", { class: "spec-lines", id: "admin-lines" }, textValue.split("\n").map((l, i) =>
      el("div", { class: i + 1 === bad ? "err-line" : "", "data-line": i + 1 },
        el("span", { class: "muted" }, String(i + 1).padStart(4, " ") + "  "), l,
        i + 1 === bad ? el("span", { class: "bad", id: "admin-error-at" }, "   ← " + msg) : null)));
  }

  // The model repository (the v2 repository extension, admin token): every model file the server knows, its
  // state, and load / unload buttons.
  async function repository(main) {
    const box = el("div", { id: "repo" });
    main.appendChild(el("h2", {}, "Model repository"));
    main.appendChild(el("p", { class: "muted" }, "Models from the repository (serve --models DIR), loaded and unloaded with the admin token (POST /v2/repository/models/{name}/load and /unload)."));
    main.appendChild(box);
    async function show(note) {
      J.clear(box);
      let rows;
      try {
        rows = await J.api("/v2/repository/index", { method: "POST", json: "{}" });
      } catch (e) {
        if (!(e instanceof J.AuthError)) box.appendChild(el("p", { class: "error-box", id: "repo-error" }, e.message));
        return;
      }
      if (note) box.appendChild(el("p", { class: note.ok ? "ok" : "error-box", id: note.ok ? "repo-result" : "repo-error" }, note.text));
      if (!rows.length) {
        box.appendChild(el("p", { class: "muted", id: "repo-empty" }, "No model files: the server has no --models directory, or it is empty."));
        return;
      }
      const act = (name, what) => async () => {
        try {
          await J.api("/v2/repository/models/" + enc(name) + "/" + what, { method: "POST", json: "{}" });
          await show({ ok: true, text: (what === "load" ? "Loaded " : "Unloaded ") + name });
        } catch (e) {
          if (!(e instanceof J.AuthError)) await show({ ok: false, text: e.message });
        }
      };
      box.appendChild(el("table", { class: "grid", id: "repo-table" },
        el("thead", {}, el("tr", {}, ["Model", "Version", "State", "Reason", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows.map((r) => el("tr", { "data-model": r.name },
          el("td", {}, r.name), el("td", {}, r.version || ""), el("td", { class: "repo-state" }, r.state || ""),
          el("td", {}, r.reason || ""),
          el("td", {}, el("button", { type: "button", class: "repo-load" }, "Load"), " ",
            el("button", { type: "button", class: "repo-unload" }, "Unload")))))));
      box.querySelectorAll("tbody tr").forEach((tr) => {
        const name = tr.getAttribute("data-model");
        tr.querySelector(".repo-load").addEventListener("click", act(name, "load"));
        tr.querySelector(".repo-unload").addEventListener("click", act(name, "unload"));
      });
    }
    await show(null);
  }

  P.admin = async function (ctx) {
    const main = ctx.main;
    main.appendChild(el("h1", {}, "Admin"));
    main.appendChild(el("p", { class: "muted" }, "Pipelines are put and deleted with the admin token (PUT / DELETE /v1/pipelines/{name}); the checker's errors are shown at the line they concern."));
    const doc = await J.api("/console/api/models");
    const pipes = doc.models.filter((m) => m.pipeline);
    const select = el("select", { id: "admin-pipeline" }, el("option", { value: "" }, "(new pipeline)"), pipes.map((m) => el("option", { value: m.name }, m.name)));
    const area = el("textarea", { class: "spec", id: "admin-spec", spellcheck: "false" });
    const put = el("button", { type: "button", id: "admin-put" }, "Check and put");
    const del = el("button", { type: "button", id: "admin-delete" }, "Delete");
    const out = el("div", { id: "admin-out" });
    main.appendChild(el("p", {}, el("label", {}, "Pipeline ", select)));
    main.appendChild(area);
    main.appendChild(el("p", {}, put, " ", del));
    main.appendChild(out);
    const template = { name: "my-pipeline", inputs: [{ name: "x", kind: "TENSOR", datatype: "FP32", shape: [-1, 4] }],
      steps: [{ id: "a", model: "identity", inputs: { input: "x" } }], outputs: [{ name: "y", from: "a.output" }] };
    async function load() {
      J.clear(out);
      area.value = select.value ? JSON.stringify(await J.api("/v1/pipelines/" + enc(select.value)), null, 2) : JSON.stringify(template, null, 2);
    }
    select.addEventListener("change", () => load().catch(J.report(main)));
    if (ctx.arg && pipes.some((m) => m.name === ctx.arg)) select.value = ctx.arg;
    await load();
    put.addEventListener("click", async () => {
      J.clear(out);
      let name = select.value;
      try {
        const spec = JSON.parse(area.value);
        if (spec && typeof spec.name === "string") name = spec.name;
      } catch (e) { /* the server says where */ }
      if (!name) name = "unnamed";
      try {
        const r = await J.api("/v1/pipelines/" + enc(name), { method: "PUT", json: area.value });
        out.appendChild(el("p", { class: "ok", id: "admin-result" }, (r.replaced ? "Replaced " : "Created ") + r.name));
        out.appendChild(el("pre", { class: "plan" }, r.plan));
      } catch (e) {
        if (e instanceof J.AuthError) return;
        const line = lineOf(area.value, e.message);
        out.appendChild(el("p", { class: "error-box", id: "admin-error" }, (e.status === 403 ? "This needs the admin token: " : "") + e.message + (line ? " (line " + line + ")" : "")));
        out.appendChild(numbered(area.value, line, e.message));
      }
    });
    await repository(main);
    del.addEventListener("click", async () => {
      J.clear(out);
      if (!select.value) return;
      try {
        await J.api("/v1/pipelines/" + enc(select.value), { method: "DELETE" });
        out.appendChild(el("p", { class: "ok", id: "admin-result" }, "Deleted " + select.value));
      } catch (e) {
        if (!(e instanceof J.AuthError)) out.appendChild(el("p", { class: "error-box", id: "admin-error" }, e.message));
      }
    });
  };
})();
