// app.js — the Junction web console's shell: token, API calls, page routing, polling, and the DOM helper every
// page uses. Pages live in pages.js (window.JunctionPages). Every name and label from the server is set as text
// (textContent / text nodes / setAttribute), never parsed as HTML; the page's CSP forbids inline code anyway.
"use strict";

(function () {
  const TOKEN_KEY = "junction-token";
  const J = (window.Junction = {});

  // ---- DOM ----
  // el("div", {class: "x", onclick: fn, "data-id": id}, child, "text", [more children])
  J.el = function (tag, attrs, ...children) {
    const ns = tag.startsWith("svg:") ? "http://www.w3.org/2000/svg" : null;
    const e = ns ? document.createElementNS(ns, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "class" && !ns) e.className = v;
      else e.setAttribute(k, String(v));
    }
    J.append(e, children);
    return e;
  };
  J.append = function (parent, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return parent;
  };
  J.clear = function (e) {
    while (e.firstChild) e.removeChild(e.firstChild);
    return e;
  };
  J.fmt = {
    ms: (v) => (v === null || v === undefined ? "–" : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0)),
    rate: (v) => (v === null || v === undefined ? "–" : v.toFixed(v < 10 ? 2 : 1)),
    bytes: (b) => (b < 0 ? "–" : b > 1 << 30 ? (b / (1 << 30)).toFixed(2) + " GiB" : (b / (1 << 20)).toFixed(1) + " MiB"),
    duration: (s) => {
      if (s < 0) return "–";
      const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
      return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + Math.floor(s % 60) + "s";
    },
    shape: (s) => "[" + (s || []).join(", ") + "]",
  };

  // A script of the console loaded when a page first needs it (the graph layout: only the pipeline pages).
  const scripts = {};
  J.script = function (src) {
    if (!scripts[src])
      scripts[src] = new Promise((resolve, reject) => {
        const s = J.el("script", { src });
        s.addEventListener("load", resolve);
        s.addEventListener("error", () => reject(new Error("cannot load " + src)));
        document.head.appendChild(s);
      });
    return scripts[src];
  };

  // ---- token and API ----
  J.token = () => sessionStorage.getItem(TOKEN_KEY) || "";
  class AuthError extends Error {}
  J.AuthError = AuthError;

  // fetch with the token; JSON answers parsed; 401 asks for a token (and throws AuthError); other errors throw
  // Error(message from {"error"}) with .status and .doc.
  J.api = async function (path, opts) {
    opts = opts || {};
    const headers = Object.assign({}, opts.headers || {});
    const t = J.token();
    if (t) headers["Authorization"] = "Bearer " + t;
    if (opts.json !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, {
      method: opts.method || "GET",
      headers,
      body: opts.json !== undefined ? (typeof opts.json === "string" ? opts.json : JSON.stringify(opts.json)) : opts.body,
      cache: "no-store",
    });
    const text = await r.text();
    let doc = null;
    try {
      doc = text ? JSON.parse(text) : null;
    } catch (e) {
      doc = null;
    }
    if (r.status === 401) {
      J.login(t ? "The token was refused. Enter a valid token." : "This server needs a token.");
      throw new AuthError("unauthenticated");
    }
    if (!r.ok) {
      const e = new Error(doc && doc.error ? doc.error : "HTTP " + r.status);
      e.status = r.status;
      e.doc = doc;
      throw e;
    }
    return doc;
  };

  J.login = function (why) {
    const d = document.getElementById("login");
    document.getElementById("login-why").textContent = why;
    stopPolling();
    if (!d.open) d.showModal();
    document.getElementById("login-token").focus();
  };

  // ---- routing: /console/{page}[/{arg}], "/" = overview ----
  let poll = null;
  let generation = 0;
  function stopPolling() {
    if (poll) clearInterval(poll);
    poll = null;
  }

  J.go = function (href) {
    history.pushState(null, "", href);
    route();
  };
  J.link = function (href, ...children) {
    return J.el("a", {
      href,
      onclick: (ev) => {
        if (ev.button !== 0 || ev.ctrlKey || ev.metaKey) return;
        ev.preventDefault();
        J.go(href);
      },
    }, ...children);
  };

  function route() {
    stopPolling();
    const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const page = parts[0] === "console" && parts[1] ? parts[1] : "overview";
    const arg = parts[0] === "console" ? parts.slice(2).join("/") : "";
    const pages = window.JunctionPages || {};
    const impl = pages[page] || pages.overview;
    for (const a of document.querySelectorAll("#nav a"))
      a.classList.toggle("active", a.getAttribute("data-page") === (pages[page] ? page : "overview"));
    const main = J.clear(document.getElementById("main"));
    const gen = ++generation;
    const ctx = {
      main,
      arg,
      live: () => gen === generation, // false once the user went to another page
      every: (ms, fn) => {
        stopPolling();
        poll = setInterval(() => {
          if (gen === generation) fn().catch(J.report(main));
        }, ms);
      },
    };
    document.body.setAttribute("data-page", pages[page] ? page : "overview");
    document.body.removeAttribute("data-ready");
    const started = performance.now();
    Promise.resolve(impl(ctx))
      .then(() => {
        if (gen !== generation) return;
        document.body.setAttribute("data-ready", "1");
        document.body.setAttribute("data-render-ms", String(Math.round((performance.now() - started) * 10) / 10));
        document.body.setAttribute("data-ready-at", String(Math.round(performance.now() * 10) / 10));
      })
      .catch(J.report(main));
  }

  // An error while drawing a page: shown in the page (an AuthError already opened the prompt).
  J.report = (main) => (e) => {
    if (e instanceof AuthError) return;
    let box = main.querySelector(":scope > .error-box");
    if (!box) box = main.insertBefore(J.el("p", { class: "error-box" }), main.firstChild);
    box.textContent = e && e.message ? e.message : String(e);
    document.body.setAttribute("data-ready", "error");
  };

  window.addEventListener("popstate", route);
  document.addEventListener("DOMContentLoaded", () => {
    for (const a of document.querySelectorAll("#nav a"))
      a.addEventListener("click", (ev) => {
        ev.preventDefault();
        J.go(a.getAttribute("href"));
      });
    document.getElementById("login-form").addEventListener("submit", () => {
      sessionStorage.setItem(TOKEN_KEY, document.getElementById("login-token").value.trim());
      document.getElementById("login-token").value = "";
      route();
    });
    document.getElementById("logout").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      J.login("Token forgotten. Enter a token to go on.");
    });
    route();
  });
})();
