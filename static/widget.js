/* Fieldguide search widget: one script tag, one <fieldguide-search> element, no build step.
 *
 *   <script src="https://kb.example.com/static/widget.js" defer></script>
 *   <fieldguide-search endpoint="https://kb.example.com"></fieldguide-search>
 *
 * Works under a strict Content-Security-Policy: styles are a constructable stylesheet adopted
 * by the shadow root (no <style> element, no style attribute), no eval, and server data is only
 * ever placed in the DOM through textContent / text nodes, never innerHTML.
 *
 * Inside, four parts: `Api` (every request, and how its errors read), `SearchController` (the
 * search state: debounce, stale answers, clicks, recent searches), `ChatController` (the
 * conversation: turns, feedback, escalation) and the element, which builds the chrome and maps
 * each state to one screen in render(). The controllers change state and ask the element to
 * render; only the element touches the DOM.
 */
(() => {
  "use strict";

  const TAG = "fieldguide-search";
  if (window.customElements.get(TAG)) return; // the script was included twice
  const SCRIPT = document.currentScript;
  const SCRIPT_ENDPOINT = (SCRIPT && SCRIPT.dataset && SCRIPT.dataset.endpoint) || "";
  const IS_MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent || "");

  const DEFAULT_STRINGS = {
    triggerLabel: "Search the knowledge base",
    shortcut: IS_MAC ? "⌘K" : "Ctrl K",
    dialogLabel: "Knowledge base",
    tabSearch: "Search",
    tabAsk: "Ask",
    close: "Close",
    inputLabel: "Search the knowledge base",
    placeholder: "Paste an error message, an alert name or a question…",
    resultsLabel: "Results",
    idleHint: "Search by error message, error code, alert name or question.",
    recentTitle: "Recent searches",
    recentClear: "Clear",
    loading: "Searching…",
    resultsOne: "1 result",
    resultsMany: "{count} results",
    seeAll: "See all {count} results",
    facetServices: "Services",
    facetTags: "Tags",
    facetRemove: "Remove the filter {value}",
    originRefused: "This site is not allowed to use this knowledge base.",
    originRefusedDetail: "Its administrators can allow {origin}.",
    navHint: "↑ ↓ to move · Enter to open · Esc to close",
    empty: "No results for “{query}”.",
    weak: "No good match for “{query}”: the knowledge base may not cover this yet.",
    weakShow: "Show the nearest articles anyway",
    didYouMean: "Did you mean:",
    showingFor: "Showing results for “{query}”",
    askAssistant: "Ask the assistant",
    errorTitle: "Search is unavailable right now.",
    errorRetry: "Try again",
    errorConfig: "This search box is not configured (missing or invalid endpoint).",
    rateLimited: "Too many requests. Wait a moment and try again.",
    unverified: "Unverified",
    unverifiedTitle: "Not reviewed recently: check before relying on it.",
    stale: "Review due",
    askIntro: "Ask a question in your own words. The assistant answers from the knowledge base.",
    askLabel: "Your question",
    askPlaceholder: "Describe the problem…",
    askSend: "Ask",
    you: "You",
    assistant: "Assistant",
    thinking: "Thinking…",
    sources: "Sources",
    helpfulPrompt: "Did this help?",
    helpfulYes: "Helpful",
    helpfulNo: "Not helpful",
    feedbackThanks: "Thanks for the feedback.",
    feedbackError: "Could not send the feedback.",
    answerReceived: "The assistant answered.",
    chatError: "The assistant is unavailable right now.",
    talkToHuman: "Talk to a person",
    escalateTitle: "Contact the support team",
    escalateDescription: "What have you tried so far?",
    escalateContact: "How can we reach you? (email or chat handle)",
    escalateTried: "What I tried: ",
    escalateSubmit: "Send to support",
    escalateCancel: "Cancel",
    escalateSending: "Sending…",
    // What really happened to the ticket (the API's status), never a delivery that did not happen.
    escalateDone: "Your request was sent to the support team. Reference: {ticket}",
    escalateFailed: "Your request is saved (reference {ticket}), but the ticket system did not " +
      "answer: it is kept for a retry. If it is urgent, contact the service desk directly.",
    escalateStored: "Your request is recorded (reference {ticket}), but no ticket system is " +
      "configured, so nobody has been notified. Contact the service desk directly.",
    escalateError: "Could not reach the support team. Try again.",
  };

  const LIGHT = {
    bg: "#ffffff", fg: "#1f2328", muted: "#59636e", border: "#d1d9e0", accent: "#0b57d0",
    "accent-fg": "#ffffff", hover: "#eef3fc", "mark-bg": "#fff1a8", "mark-fg": "#1f2328",
    "warning-bg": "#fff4e5", "warning-fg": "#8a4b00", "warning-border": "#f0b45b",
    "tag-bg": "#eef1f4", "tag-fg": "#3d444d", backdrop: "rgba(15, 20, 30, .45)",
  };
  const DARK = {
    bg: "#1b1d21", fg: "#e6e8eb", muted: "#9aa3ad", border: "#3a3f47", accent: "#8ab4f8",
    "accent-fg": "#0d1117", hover: "#262b33", "mark-bg": "#6b5a00", "mark-fg": "#fff8d6",
    "warning-bg": "#3b2a10", "warning-fg": "#ffcf8a", "warning-border": "#8a5a14",
    "tag-bg": "#2a2f37", "tag-fg": "#c9d1d9", backdrop: "rgba(0, 0, 0, .6)",
  };
  // Light values come from --fieldguide-<name>, dark ones from --fieldguide-dark-<name>, so a
  // host page can theme both without fighting our prefers-color-scheme defaults.
  const palette = (values, prefix) => Object.entries(values)
    .map(([k, v]) => `--_${k}: var(--fieldguide-${prefix}${k}, ${v});`).join("\n    ");

  const CSS = `
  :host {
    ${palette(LIGHT, "")}
    --_radius: var(--fieldguide-radius, 8px);
    --_font: var(--fieldguide-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
    --_font-size: var(--fieldguide-font-size, 15px);
    --_width: var(--fieldguide-width, 42rem);
    display: block; font-family: var(--_font); font-size: var(--_font-size);
    color: var(--_fg); line-height: 1.45;
  }
  :host([theme="dark"]) { ${palette(DARK, "dark-")} }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme="light"])) { ${palette(DARK, "dark-")} }
  }
  :host([layout="modal"]) { display: inline-block; }
  *, *::before, *::after { box-sizing: border-box; }
  [hidden] { display: none !important; }
  button, input, textarea { font: inherit; color: inherit; }
  button { cursor: pointer; }
  :focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden;
    clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
  .trigger { display: inline-flex; align-items: center; gap: .6em; padding: .45em .8em;
    background: var(--_bg); color: var(--_muted); border: 1px solid var(--_border);
    border-radius: var(--_radius); min-width: 14em; }
  .trigger:hover { border-color: var(--_accent); color: var(--_fg); }
  .trigger .label { flex: 1; text-align: left; }
  kbd { font: inherit; font-size: .8em; padding: .05em .4em; border: 1px solid var(--_border);
    border-radius: 4px; color: var(--_muted); }
  dialog { padding: 0; border: 1px solid var(--_border); border-radius: var(--_radius);
    width: min(var(--_width), calc(100vw - 2rem)); max-height: min(80vh, 44rem);
    margin: 8vh auto auto; background: var(--_bg); color: var(--_fg);
    box-shadow: 0 12px 40px rgba(0, 0, 0, .25); overflow: hidden; }
  dialog[open] { display: flex; flex-direction: column; }
  dialog::backdrop { background: var(--_backdrop); }
  .panel { display: flex; flex-direction: column; min-height: 0; flex: 1;
    background: var(--_bg); color: var(--_fg); }
  :host([layout="inline"]) .panel { border: 1px solid var(--_border);
    border-radius: var(--_radius); min-height: 24rem; }
  .bar { display: flex; align-items: center; gap: .25em; padding: .4em .6em 0;
    border-bottom: 1px solid var(--_border); }
  [role="tablist"] { display: flex; gap: .25em; flex: 1; }
  [role="tab"] { background: none; border: 0; border-bottom: 2px solid transparent;
    padding: .45em .8em; color: var(--_muted); }
  [role="tab"][aria-selected="true"] { color: var(--_fg); border-bottom-color: var(--_accent);
    font-weight: 600; }
  .close { background: none; border: 0; font-size: 1.3em; line-height: 1; padding: .2em .45em;
    color: var(--_muted); border-radius: 4px; }
  .close:hover { background: var(--_hover); color: var(--_fg); }
  [role="tabpanel"] { display: flex; flex-direction: column; min-height: 0; flex: 1; }
  .searchbox { padding: .7em; }
  input[type="search"], input[type="text"], textarea { width: 100%; padding: .6em .75em;
    border: 1px solid var(--_border); border-radius: var(--_radius); background: var(--_bg); }
  input:focus, textarea:focus { outline: 2px solid var(--_accent); outline-offset: -1px; }
  .body { overflow-y: auto; flex: 1; min-height: 0; padding: 0 .7em .7em; }
  .screen { padding: .6em .2em; color: var(--_muted); }
  .screen h3 { font-size: .8em; text-transform: uppercase; letter-spacing: .04em; margin: .2em 0 .5em;
    display: flex; justify-content: space-between; align-items: baseline; }
  .linklike { background: none; border: 0; padding: 0; color: var(--_accent);
    text-decoration: underline; }
  .recent { list-style: none; margin: 0; padding: 0; }
  .recent button { background: none; border: 0; padding: .35em .4em; width: 100%; text-align: left;
    border-radius: 4px; color: var(--_fg); }
  .recent button:hover { background: var(--_hover); }
  .actions { display: flex; flex-wrap: wrap; gap: .5em; margin-top: .7em; }
  .primary, .secondary { border-radius: var(--_radius); padding: .45em .9em; }
  .primary { background: var(--_accent); color: var(--_accent-fg); border: 1px solid var(--_accent); }
  .secondary { background: var(--_bg); color: var(--_fg); border: 1px solid var(--_border); }
  .secondary:hover { background: var(--_hover); }
  .error { color: var(--_warning-fg); background: var(--_warning-bg);
    border: 1px solid var(--_warning-border); border-radius: var(--_radius); padding: .7em; }
  .spinner { display: inline-block; width: 1em; height: 1em; border-radius: 50%;
    border: 2px solid var(--_border); border-top-color: var(--_accent);
    animation: spin .8s linear infinite; vertical-align: -.15em; margin-right: .4em; }
  @keyframes spin { to { transform: rotate(1turn); } }
  @media (prefers-reduced-motion: reduce) { .spinner { animation: none; } }
  [role="listbox"] { list-style: none; margin: 0; padding: 0; }
  [role="option"] { padding: .6em .7em; border-radius: var(--_radius); cursor: pointer;
    border: 1px solid transparent; }
  [role="option"]:hover { background: var(--_hover); }
  [role="option"][aria-selected="true"] { background: var(--_hover); border-color: var(--_accent); }
  .title { color: var(--_accent); font-weight: 600; text-decoration: none; }
  .head { display: flex; gap: .5em; align-items: baseline; flex-wrap: wrap; }
  .snippet { margin: .25em 0 0; color: var(--_fg); font-size: .92em; overflow-wrap: anywhere; }
  .snippet .section { color: var(--_muted); font-weight: 600; }
  .showing-for, .screen-slot > .suggestion { margin: .5em .75em 0; color: var(--_muted); }
  .summary { display: flex; flex-wrap: wrap; gap: .35em .6em; align-items: center;
    margin: .2em .2em .5em; font-size: .85em; color: var(--_muted); }
  .summary .count { font-weight: 600; color: var(--_fg); margin-right: .3em; }
  .facets { display: contents; }
  .facet-label { font-size: .9em; margin-left: .3em; }
  .facet { font-size: .9em; padding: .05em .6em; border-radius: 999px;
    border: 1px solid var(--_border); background: var(--_bg); color: var(--_fg); }
  .facet:hover { border-color: var(--_accent); }
  .facet[aria-pressed="true"] { background: var(--_accent); border-color: var(--_accent);
    color: var(--_accent-fg); }
  .facet .n { color: var(--_muted); margin-left: .3em; }
  .facet[aria-pressed="true"] .n { color: inherit; }
  .more { margin: .5em .2em 0; }
  .more[hidden] { display: none; }
  mark { background: var(--_mark-bg); color: var(--_mark-fg); border-radius: 2px; padding: 0 .1em; }
  .tags { display: flex; gap: .35em; flex-wrap: wrap; margin-top: .35em; }
  .tag { font-size: .75em; padding: .1em .5em; border-radius: 999px; background: var(--_tag-bg);
    color: var(--_tag-fg); }
  .badge { font-size: .72em; font-weight: 700; padding: .1em .5em; border-radius: 4px;
    text-transform: uppercase; letter-spacing: .03em; border: 1px solid var(--_warning-border); }
  .badge.unverified { background: var(--_warning-bg); color: var(--_warning-fg); }
  .badge.stale { background: transparent; color: var(--_muted); border-color: var(--_border); }
  .footer { border-top: 1px solid var(--_border); padding: .4em .8em; font-size: .8em;
    color: var(--_muted); }
  .log { overflow-y: auto; flex: 1; min-height: 0; padding: .7em; display: flex;
    flex-direction: column; gap: .7em; }
  .intro { color: var(--_muted); margin: 0; }
  .turn { max-width: 92%; padding: .55em .75em; border-radius: var(--_radius);
    border: 1px solid var(--_border); }
  .turn.user { align-self: flex-end; background: var(--_hover); }
  .turn.bot { align-self: flex-start; }
  .turn .who { font-size: .75em; color: var(--_muted); display: block; margin-bottom: .2em; }
  .turn .text { white-space: pre-wrap; margin: 0; overflow-wrap: anywhere; }
  .banner { margin: .4em 0; }
  .sources { margin: .5em 0 0; padding-left: 1.2em; font-size: .92em; }
  .sources-title { font-size: .8em; color: var(--_muted); margin: .6em 0 0; }
  .feedback { display: flex; gap: .4em; align-items: center; flex-wrap: wrap; margin-top: .5em;
    font-size: .9em; color: var(--_muted); }
  .feedback button, .options button { padding: .25em .7em; }
  .options { display: flex; gap: .4em; flex-wrap: wrap; margin-top: .5em; }
  .ask-form { display: flex; gap: .5em; padding: .7em; border-top: 1px solid var(--_border); }
  .ask-form input { flex: 1; }
  .handoff { padding: 0 .7em .7em; }
  .escalate { display: grid; gap: .5em; border: 1px solid var(--_border);
    border-radius: var(--_radius); padding: .7em; }
  .escalate h3 { margin: 0; font-size: 1em; }
  .escalate label { display: grid; gap: .25em; font-size: .9em; }
  .done { color: var(--_fg); }
  @media (max-width: 640px) {
    dialog { width: 100vw; max-width: 100vw; height: 100dvh; max-height: 100dvh; margin: 0;
      border-radius: 0; border: 0; }
    .trigger { min-width: 0; }
    .trigger .label, .trigger kbd { display: none; }
    .turn { max-width: 100%; }
    .footer { display: none; }
  }
  `;

  let SHEET = null;
  function sheet() {
    if (!SHEET) {
      SHEET = new CSSStyleSheet();
      SHEET.replaceSync(CSS);
    }
    return SHEET;
  }

  /* ---- safe DOM helpers: server data only ever becomes text nodes ---- */

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "text") el.textContent = value;
      else if (key === "className") el.className = value;
      else if (key === "style") throw new Error("style attributes break under a strict CSP");
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return el;
  }

  const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };
  function decodeEntities(text) {
    return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (all, name) => {
      if (name[0] === "#") {
        const code = name[1] === "x" || name[1] === "X"
          ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
      }
      const known = ENTITIES[name.toLowerCase()];
      return known === undefined ? all : known;
    });
  }

  /* The server sends HTML-escaped text with <mark>…</mark> around matched terms. Split on
   * exactly those two tokens; everything else is text (decoded entities), so a stray tag in an
   * article can never become markup. */
  function highlight(snippet) {
    const frag = document.createDocumentFragment();
    let inMark = false;
    for (const part of String(snippet || "").split(/(<mark>|<\/mark>)/)) {
      if (part === "<mark>") { inMark = true; continue; }
      if (part === "</mark>") { inMark = false; continue; }
      if (!part) continue;
      const text = decodeEntities(part);
      frag.append(inMark ? h("mark", { text }) : document.createTextNode(text));
    }
    return frag;
  }

  function safeUrl(raw, base) {
    if (!raw) return null;
    try {
      const url = new URL(String(raw), base);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, (all, key) =>
      Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all);
  }

  function isEditable(node) {
    if (!node || node.nodeType !== 1) return false;
    const tag = node.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || node.isContentEditable;
  }

  /* ---- the API client: the HTTP contract is /openapi.json ---- */

  class Api {
    /** base(): the endpoint URL (no trailing slash); strings(): the current UI strings. */
    constructor(base, strings) {
      this._base = base;
      this._strings = strings;
    }

    url(path) { return `${this._base()}${path}`; }

    // credentials "same-origin": on the service's own pages (and /embed) the sign-in session
    // cookie goes along, so a signed-in engineer sees what they may read; on a wiki of another
    // origin no cookie is sent and the widget is anonymous (README "Sign-in").

    async search(params, signal) {
      const res = await this._fetch(`/api/search?${params}`, {
        signal, headers: { Accept: "application/json" }, mode: "cors", credentials: "same-origin",
      });
      return this._read(res);
    }

    /** fetch(), except that a browser refusing the answer because this page's origin is not
     * among the service's CORS origins reads as that, not as "Failed to fetch": the failed
     * request is followed by a no-cors probe of /healthz, which reaches a live server whatever
     * the origin. The server logs the origin and the setting to change (app/origins.py). */
    async _fetch(path, init) {
      try {
        return await fetch(this.url(path), init);
      } catch (err) {
        if ((err && err.name === "AbortError") || !(await this._reachable())) throw err;
        const origin = window.location.origin;
        const t = this._strings();
        console.error(`[${TAG}] ${this._base()} does not allow this page's origin ${origin}: ` +
          "add it to the service's FIELDGUIDE_CORS_ORIGINS setting.");
        const refused = new Error(`${t.originRefused} ${fill(t.originRefusedDetail, { origin })}`);
        refused.code = "origin_not_allowed";
        throw refused;
      }
    }

    async _reachable() {
      try {
        await fetch(this.url("/healthz"), { mode: "no-cors", cache: "no-store",
          credentials: "omit" });
        return true;
      } catch (_) {
        return false;
      }
    }

    /** A result click, for search analytics: fire and forget, and it survives navigation. */
    click(event) {
      fetch(this.url("/api/events/click"), { method: "POST", body: JSON.stringify(event),
        keepalive: true, mode: "cors", credentials: "same-origin",
        headers: { "Content-Type": "application/json" } })
        .catch(() => {}); // analytics must never disturb the user
    }

    chat(sessionId, message, signal) {
      const payload = sessionId ? { session_id: sessionId, message } : { message };
      return this._post("/api/chat", payload, signal);
    }

    feedback(sessionId, helpful) {
      return this._post(`/api/chat/${encodeURIComponent(sessionId)}/feedback`, { helpful });
    }

    escalate(sessionId, description, contact) {
      const body = {};
      if (description) body.description = description;
      if (contact) body.contact = contact;
      return this._post(`/api/chat/${encodeURIComponent(sessionId)}/escalate`, body);
    }

    async _post(path, payload, signal) {
      const res = await this._fetch(path, { method: "POST", signal, mode: "cors",
        credentials: "same-origin", body: JSON.stringify(payload),
        headers: { "Content-Type": "application/json", Accept: "application/json" } });
      return this._read(res);
    }

    /** The JSON body of a 2xx answer ({} when there is none); otherwise an Error whose
     * message is the server's own error message (every 4xx/5xx carries one). */
    async _read(res) {
      let data = null;
      try { data = await res.json(); } catch (_) { data = null; }
      if (!res.ok) throw new Error(this._message(res, data));
      return data || {};
    }

    _message(res, data) {
      const t = this._strings();
      if (res.status === 429) return t.rateLimited;
      const msg = data && data.error && data.error.message;
      return msg ? String(msg) : `${t.errorTitle} (HTTP ${res.status})`;
    }
  }

  /* ---- search: the state behind the search tab ---- */

  // Search analytics record the query a person settled on, not each keystroke: searches made
  // while typing are sent with typeahead=1 (not recorded), and the query is recorded once it is
  // left standing this long, submitted, or a result is opened.
  const SETTLE_MS = 2000;

  class SearchController {
    /** host: the element (its attributes scope the search; render() shows the state). */
    constructor(host, api, state) {
      this.host = host;
      this.api = api;
      this.state = state;
      this._timer = 0;
      this._seq = 0;
      this._controller = null;
      this._settleTimer = 0;
      this._pending = null; // params of the last type-ahead search, not yet recorded
      this._recorded = ""; // the last query recorded
    }

    /** The box changed: search after the debounce, or back to idle when it is empty. */
    input(q) {
      const s = this.state;
      s.query = q;
      window.clearTimeout(this._timer);
      window.clearTimeout(this._settleTimer);
      if (!q.trim()) {
        this.cancel();
        // An emptied box starts over: the facets picked for the last query go too.
        Object.assign(s, { status: "idle", results: [], selected: -1, error: "", errorCode: "",
          filters: { service: [], tag: [] } });
        this.host.render();
        return;
      }
      const wait = Number(this.host.getAttribute("debounce") || 150);
      this._timer = window.setTimeout(() => this.search(q, { typeahead: true }),
        Number.isFinite(wait) ? wait : 150);
    }

    cancel() {
      window.clearTimeout(this._timer);
      if (this._controller) this._controller.abort();
      this._controller = null;
    }

    /** Search for ``q``; ``typeahead``: made while typing (recorded only once it settles). */
    async search(q, { typeahead = false } = {}) {
      const s = this.state;
      const host = this.host;
      const query = String(q || "").trim();
      this.cancel();
      window.clearTimeout(this._settleTimer);
      if (!query) return;
      if (host._endpoint().problem) { host.render(); return; }
      const controller = new AbortController();
      this._controller = controller;
      const seq = ++this._seq;
      Object.assign(s, { status: "loading", error: "", errorCode: "", selected: -1 });
      host.render();
      const limit = Number(host.getAttribute("limit") || 8);
      const params = new URLSearchParams({ q: query, limit: String(limit) });
      // service="vpn,wifi" / tag="..." scope a wiki page's box to its own topic; the facets
      // picked in the panel narrow it further.
      for (const name of ["service", "tag"]) {
        for (const value of [...this.scope(name), ...s.filters[name]]) params.append(name, value);
      }
      const recorded = new URLSearchParams(params);
      if (typeahead) params.set("typeahead", "1");
      this._pending = typeahead ? recorded : null;
      if (!typeahead) this._recorded = query;
      try {
        const data = await this.api.search(params, controller.signal);
        if (seq !== this._seq) return; // a newer search owns the screen
        const results = Array.isArray(data.results) ? data.results : [];
        // weak_match: the best result is below the calibrated confidence (counted server-side
        // as a zero-result search): say so first, keep the nearest articles one click away.
        // showing_results_for: the query found nothing, these are its suggestion's results,
        // shown as such (under "Showing results for ...") even when they are a weak match.
        const showing = typeof data.showing_results_for === "string" && data.showing_results_for;
        const status = !results.length ? "empty"
          : data.weak_match === true && !showing ? "weak" : "results";
        const total = Number.isInteger(data.total) ? data.total : results.length;
        const facets = data.facets && typeof data.facets === "object" ? data.facets : {};
        Object.assign(s, { results, selected: -1, suggestion: data.suggestion || null, total,
          facets: { service: Array.isArray(facets.services) ? facets.services : [],
                    tag: Array.isArray(facets.tags) ? facets.tags : [] },
          showingFor: showing || null,
          searchId: (typeof data.search_id === "string" && data.search_id) || null, status });
        if (typeahead) this._settleTimer = window.setTimeout(() => this.settle(), SETTLE_MS);
      } catch (err) {
        if (err && err.name === "AbortError") return;
        if (seq !== this._seq) return;
        Object.assign(s, { status: "error", results: [], error: err && err.message ? err.message : "",
          errorCode: (err && err.code) || "" });
      } finally {
        if (this._controller === controller) this._controller = null;
      }
      host.render();
    }

    /** The element's own scope for ``name`` (service / tag attribute, comma-separated). */
    scope(name) {
      return (this.host.getAttribute(name) || "").split(",").map((v) => v.trim()).filter(Boolean);
    }

    /** A facet was picked or dropped: search again, narrowed (or widened) by it. */
    toggleFilter(name, value) {
      const list = this.state.filters[name];
      const at = list.indexOf(value);
      if (at >= 0) list.splice(at, 1);
      else list.push(value);
      this.search(this.state.query);
    }

    /** The service's own page listing every result of the current query and filters. */
    allResultsUrl() {
      const params = new URLSearchParams({ q: this.state.query.trim() });
      for (const name of ["service", "tag"]) {
        for (const value of [...this.scope(name), ...this.state.filters[name]]) {
          params.append(name, value);
        }
      }
      return `${this.host._endpoint().url}/search?${params}`;
    }

    /** The query was left standing, submitted or acted on: record it (once) by searching it
     * again without typeahead; clicks from then on point at the recorded search. */
    settle() {
      window.clearTimeout(this._settleTimer);
      const params = this._pending;
      this._pending = null;
      const query = params ? params.get("q") : "";
      if (!params || !query || query === this._recorded) return;
      this._recorded = query;
      this.api.search(params).then((data) => {
        if (this.state.query.trim() === query && typeof data.search_id === "string") {
          this.state.searchId = data.search_id;
        }
      }).catch(() => {}); // analytics must never disturb the user
    }

    /** Result ``i`` was opened: record the click and keep the query among the recent ones. */
    opened(i) {
      this.settle();
      this.recordClick(i);
      this.remember(this.state.query);
    }

    recordClick(i) {
      const s = this.state;
      const r = s.results[i];
      if (!r) return;
      const event = { query: s.query, article_id: r.id, rank: i + 1 };
      if (s.searchId) event.search_id = s.searchId;
      this.api.click(event);
    }

    /* recent searches (localStorage, per endpoint; storage may be blocked in iframes) */

    _recentKey() { return `fieldguide:recent:${this.host._endpoint().url}`; }

    recent() {
      try {
        const list = JSON.parse(window.localStorage.getItem(this._recentKey()) || "[]");
        return Array.isArray(list) ? list.filter((q) => typeof q === "string").slice(0, 5) : [];
      } catch (_) {
        return [];
      }
    }

    saveRecent(list) {
      try { window.localStorage.setItem(this._recentKey(), JSON.stringify(list)); } catch (_) { /* blocked */ }
    }

    remember(q) {
      const query = String(q || "").trim();
      if (!query) return;
      this.saveRecent([query, ...this.recent().filter((x) => x !== query)].slice(0, 5));
    }
  }

  /* ---- ask: the conversation with the chatbot ---- */

  class ChatController {
    constructor(host, api, state) {
      this.host = host;
      this.api = api;
      this.state = state;
      this._controller = null;
    }

    abort() {
      if (this._controller) this._controller.abort();
    }

    /** Send a message; resolves to "answered", "error", "aborted" or "ignored". */
    async ask(message) {
      const chat = this.state;
      const host = this.host;
      const text = String(message || "").trim();
      if (!text || chat.pending) return "ignored";
      if (host._endpoint().problem) {
        chat.turns.push({ role: "error", text: host.strings.errorConfig });
        host.render();
        return "error";
      }
      chat.turns.push({ role: "user", text });
      chat.pending = true;
      host.render();
      this._controller = new AbortController();
      let outcome = "answered";
      try {
        const data = await this.api.chat(chat.sessionId, text, this._controller.signal);
        if (data.session_id) chat.sessionId = String(data.session_id);
        chat.turns.push({ role: "bot", reply: data.reply || {}, feedback: null });
      } catch (err) {
        if (err && err.name === "AbortError") return "aborted";
        outcome = "error";
        chat.turns.push({ role: "error",
          text: `${host.strings.chatError} ${err && err.message ? err.message : ""}`.trim() });
      } finally {
        chat.pending = false;
      }
      host.render();
      return outcome;
    }

    async feedback(index, helpful) {
      const chat = this.state;
      const turn = chat.turns[index];
      if (!turn || !chat.sessionId) return;
      turn.feedback = "sending";
      this.host.render();
      try {
        await this.api.feedback(chat.sessionId, helpful);
        turn.feedback = helpful ? "yes" : "no";
      } catch (_) {
        turn.feedback = "error";
      }
      this.host.render();
    }

    openEscalation() {
      const esc = this.state.escalation;
      esc.open = true;
      esc.status = "idle";
      if (!esc.description) {
        // Pre-fill with what the user asked (support should never start from zero), one line
        // each, and leave the cursor on a line of its own so their words never run together.
        const asked = this.state.turns.filter((x) => x.role === "user").map((x) => x.text);
        esc.description = asked.length
          ? `${asked.join("\n")}\n\n${this.host.strings.escalateTried}` : "";
      }
      this.host.render();
    }

    cancelEscalation() {
      this.state.escalation.open = false;
      this.host.render();
    }

    async escalate(description, contact) {
      const chat = this.state;
      const esc = chat.escalation;
      Object.assign(esc, { description, contact, status: "sending", error: "" });
      this.host.render();
      try {
        if (!chat.sessionId) {
          // Escalating before any question: open a session with the description itself.
          const started = await this.api.chat(null, description || "help");
          chat.sessionId = String(started.session_id);
        }
        const data = await this.api.escalate(chat.sessionId, description, contact);
        Object.assign(esc, { status: "done", open: false, ticket: String(data.ticket || ""),
          outcome: String(data.status || "") });
      } catch (err) {
        Object.assign(esc, { status: "error",
          error: `${this.host.strings.escalateError} ${err.message || ""}`.trim() });
      }
      this.host.render();
    }
  }

  /* ---- the element ---- */

  let UID = 0;

  class FieldguideSearch extends HTMLElement {
    static get observedAttributes() { return ["endpoint", "strings", "layout"]; }

    constructor() {
      super();
      this._uid = `fg${++UID}`;
      this._root = this.attachShadow({ mode: "open" });
      this._stringsProp = null;
      this._built = false;
      this._destroyed = false;
      this._reportedEndpoint = null;
      this._onDocKey = (e) => this._documentKey(e);
      this._s = {
        tab: "search", status: "idle", query: "", results: [], selected: -1, error: "",
        errorCode: "", suggestion: null, total: 0, facets: { service: [], tag: [] },
        filters: { service: [], tag: [] },
        chat: { sessionId: null, turns: [], pending: false,
                escalation: { open: false, status: "idle", ticket: "", error: "" } },
      };
      const api = new Api(() => this._endpoint().url, () => this.strings);
      this._search = new SearchController(this, api, this._s);
      this._chat = new ChatController(this, api, this._s.chat);
    }

    /* ---- public API ---- */

    get strings() {
      let fromAttr = {};
      const raw = this.getAttribute("strings");
      if (raw) {
        try {
          const parsed = JSON.parse(raw);
          if (parsed && typeof parsed === "object") fromAttr = parsed;
        } catch (err) {
          console.error(`[${TAG}] the strings attribute is not valid JSON; using the defaults.`,
                        err);
        }
      }
      return Object.assign({}, DEFAULT_STRINGS, fromAttr, this._stringsProp || {});
    }

    set strings(value) {
      this._stringsProp = value && typeof value === "object" ? Object.assign({}, value) : null;
      if (this._built) this._build();
    }

    get endpoint() { return this._endpoint().url; }

    get isOpen() {
      return this._layout() === "inline" ? true : Boolean(this._dialog && this._dialog.open);
    }

    open(options) {
      if (this._destroyed) return;
      if (!this._built) this._build();
      const tab = options && options.tab;
      if (tab === "search" || tab === "ask") this._setTab(tab);
      if (this._dialog && !this._dialog.open) {
        this._dialog.showModal();
        this.dispatchEvent(new CustomEvent("fieldguide-open", { bubbles: true, composed: true }));
      }
      this._focusTab();
    }

    close() {
      if (!this._dialog || !this._dialog.open) return;
      this._dialog.close();
      this._search.settle();
      this._search.cancel();
      this.dispatchEvent(new CustomEvent("fieldguide-close", { bubbles: true, composed: true }));
      if (this._trigger) this._trigger.focus();
    }

    destroy() {
      this._search.cancel();
      this._chat.abort();
      document.removeEventListener("keydown", this._onDocKey, true);
      const wasOpen = Boolean(this._dialog && this._dialog.open);
      if (wasOpen) this._dialog.close();
      this._root.replaceChildren();
      this._destroyed = true;
      this._built = false;
      this.remove();
    }

    /* ---- lifecycle ---- */

    connectedCallback() {
      if (this._destroyed) return;
      if (!this._built) {
        const tab = this.getAttribute("tab");
        if (tab === "ask" || tab === "search") this._s.tab = tab;
        const q = this.getAttribute("query");
        if (q) this._s.query = q;
        this._build();
        if (this._s.query) this._search.search(this._s.query);
      }
      if (this.getAttribute("hotkeys") !== "off") {
        document.addEventListener("keydown", this._onDocKey, true);
      }
    }

    disconnectedCallback() {
      document.removeEventListener("keydown", this._onDocKey, true);
    }

    attributeChangedCallback(name, oldValue, newValue) {
      if (oldValue === newValue || !this._built) return;
      if (name === "endpoint") this._reportedEndpoint = null;
      this._build();
    }

    _layout() { return this.getAttribute("layout") === "inline" ? "inline" : "modal"; }

    _endpoint() {
      const raw = (this.getAttribute("endpoint") || SCRIPT_ENDPOINT || "").trim();
      let problem = "";
      let url = "";
      if (!raw) {
        problem = "no endpoint: add endpoint=\"https://kb.example.com\" to <fieldguide-search> " +
          "or data-endpoint to the widget's <script> tag";
      } else {
        const safe = safeUrl(raw, document.baseURI);
        if (safe) url = safe.replace(/\/+$/, "");
        else problem = `invalid endpoint ${JSON.stringify(raw)}: it must be an http(s) URL`;
      }
      if (problem && this._reportedEndpoint !== problem) {
        this._reportedEndpoint = problem;
        console.error(`[${TAG}] ${problem}. The widget cannot search until this is fixed.`);
      }
      return { url, problem };
    }

    /* ---- skeleton (static chrome); everything state-dependent is in render() ---- */

    _build() {
      const t = this.strings;
      const id = (name) => `${this._uid}-${name}`;
      if ("adoptedStyleSheets" in this._root) this._root.adoptedStyleSheets = [sheet()];
      else console.error(`[${TAG}] this browser lacks constructable stylesheets; unstyled.`);
      const wasOpen = Boolean(this._dialog && this._dialog.open);
      if (wasOpen) this._dialog.close();

      this._input = h("input", {
        type: "search", id: id("input"), role: "combobox", "aria-autocomplete": "list",
        "aria-expanded": "false", "aria-controls": id("listbox"), "aria-label": t.inputLabel,
        placeholder: t.placeholder, autocomplete: "off", spellcheck: "false",
        enterkeyhint: "search",
        oninput: () => this._search.input(this._input.value),
        onkeydown: (e) => this._onInputKey(e),
      });
      this._input.value = this._s.query;
      this._listbox = h("ul", { role: "listbox", id: id("listbox"), "aria-label": t.resultsLabel });
      this._screen = h("div", { className: "screen-slot" });
      this._status = h("div", { role: "status", "aria-live": "polite", className: "sr-only" });

      this._tabs = {
        search: h("button", { type: "button", role: "tab", id: id("tab-search"),
          "aria-controls": id("panel-search"), text: t.tabSearch,
          onclick: () => { this._setTab("search"); this._focusTab(); } }),
        ask: h("button", { type: "button", role: "tab", id: id("tab-ask"),
          "aria-controls": id("panel-ask"), text: t.tabAsk,
          onclick: () => { this._setTab("ask"); this._focusTab(); } }),
      };
      const tablist = h("div", { role: "tablist", "aria-label": t.dialogLabel,
        onkeydown: (e) => this._onTabKey(e) }, this._tabs.search, this._tabs.ask);

      this._panels = {
        search: h("div", { role: "tabpanel", id: id("panel-search"),
          "aria-labelledby": id("tab-search") },
          h("div", { className: "searchbox" }, this._input),
          h("div", { className: "body", part: "body" }, this._screen, this._listbox,
            this._more = h("p", { className: "more", hidden: true })),
          h("div", { className: "footer", "aria-hidden": "true", text: t.navHint })),
        ask: this._buildAsk(t, id),
      };

      const isModal = this._layout() === "modal";
      const bar = h("div", { className: "bar" }, tablist,
        isModal ? h("button", { type: "button", className: "close", "aria-label": t.close,
          title: t.close, text: "×", onclick: () => this.close() }) : null);
      const panel = h("div", { className: "panel", part: "panel" }, bar,
        this._panels.search, this._panels.ask, this._status);

      this._dialog = null;
      this._trigger = null;
      if (isModal) {
        this._trigger = h("button", { type: "button", className: "trigger", part: "trigger",
          "aria-haspopup": "dialog", "aria-label": t.triggerLabel, onclick: () => this.open() },
          h("span", { "aria-hidden": "true", text: "⌕" }),
          h("span", { className: "label", text: t.triggerLabel }),
          h("kbd", { text: t.shortcut }));
        this._dialog = h("dialog", { "aria-label": t.dialogLabel, part: "dialog",
          // A click on the dialog element itself is a click on the backdrop.
          onclick: (e) => { if (e.target === this._dialog) this.close(); },
          oncancel: (e) => { e.preventDefault(); this.close(); } }, panel);
        this._root.replaceChildren(this._trigger, this._dialog);
      } else {
        this._root.replaceChildren(panel);
      }
      this._built = true;
      this.render();
      if (wasOpen && this._dialog) this._dialog.showModal(); // a rebuild keeps it open
    }

    _buildAsk(t, id) {
      this._log = h("div", { className: "log", role: "log", "aria-live": "polite",
        "aria-label": t.tabAsk });
      this._askInput = h("input", { type: "text", id: id("ask"), "aria-label": t.askLabel,
        placeholder: t.askPlaceholder, autocomplete: "off",
        onkeydown: (e) => { if (e.key === "Escape" && this._dialog) { e.preventDefault(); this.close(); } } });
      this._askButton = h("button", { type: "submit", className: "primary", text: t.askSend });
      const form = h("form", { className: "ask-form", onsubmit: (e) => {
        e.preventDefault();
        const message = this._askInput.value.trim();
        if (message) { this._askInput.value = ""; this._ask(message); }
      } }, this._askInput, this._askButton);
      this._handoff = h("div", { className: "handoff" });
      return h("div", { role: "tabpanel", id: id("panel-ask"), "aria-labelledby": id("tab-ask") },
        this._log, this._handoff, form);
    }

    /* ---- render: one function, each state mapped to one screen ---- */

    render() {
      if (!this._built) return;
      const t = this.strings;
      const s = this._s;
      for (const name of ["search", "ask"]) {
        const on = s.tab === name;
        this._tabs[name].setAttribute("aria-selected", String(on));
        this._tabs[name].tabIndex = on ? 0 : -1;
        this._panels[name].hidden = !on;
      }
      const { problem } = this._endpoint();
      const status = problem ? "error" : s.status;
      const error = problem ? t.errorConfig : s.error;
      this._listbox.replaceChildren();
      let screen = null;
      let announce = "";
      switch (status) {
        case "idle":
          screen = this._idleScreen(t);
          break;
        case "loading":
          screen = h("div", { className: "screen loading" },
            h("span", { className: "spinner", "aria-hidden": "true" }), t.loading);
          announce = t.loading;
          break;
        case "results": {
          s.results.forEach((r, i) => this._listbox.append(this._resultItem(r, i, t)));
          const total = Math.max(s.total, s.results.length);
          announce = total === 1 ? t.resultsOne : fill(t.resultsMany, { count: total });
          screen = [this._summary(t, announce)];
          // The query found nothing and its suggestion did: say whose results these are.
          if (s.showingFor) {
            screen.unshift(h("p", { className: "showing-for" }, fill(t.showingFor,
              { query: s.showingFor })));
            announce = `${fill(t.showingFor, { query: s.showingFor })}. ${announce}`;
          } else if (s.suggestion) {
            screen.unshift(h("p", { className: "suggestion" }, `${t.didYouMean} `,
              h("button", { type: "button", className: "linklike", text: s.suggestion,
                onclick: () => this._setQuery(s.suggestion) })));
          }
          break;
        }
        case "empty":
          screen = this._emptyScreen(t);
          announce = fill(t.empty, { query: s.query });
          break;
        case "weak":
          screen = this._emptyScreen(t, true);
          announce = fill(t.weak, { query: s.query });
          break;
        case "error":
        default:
          screen = h("div", { className: "screen" },
            h("div", { className: "error", role: "alert", "data-state": "error" },
              s.errorCode === "origin_not_allowed" && !problem
                ? h("p", { className: "detail", text: error })
                : [h("p", { text: t.errorTitle }), error && error !== t.errorTitle
                  ? h("p", { className: "detail", text: error }) : null]),
            problem || s.errorCode === "origin_not_allowed" ? null
              : h("div", { className: "actions" }, h("button", { type: "button",
              className: "secondary", text: t.errorRetry,
              onclick: () => this._search.search(s.query) })));
          announce = error || t.errorTitle;
      }
      this._screen.replaceChildren(...(Array.isArray(screen) ? screen : screen ? [screen] : []));
      this._listbox.hidden = status !== "results";
      this._renderMore(t, status);
      this._panels.search.dataset.state = status;
      this.dataset.state = status;
      const expanded = status === "results" && this.isOpen;
      this._input.setAttribute("aria-expanded", String(expanded));
      this._updateSelection(false);
      if (s.tab === "search") this._announce(announce);
      this._renderChat(t);
    }

    /** The results' count and the facets to narrow them (picked ones first, pressed). */
    _summary(t, count) {
      const s = this._s;
      const chips = [];
      for (const [name, label] of [["service", t.facetServices], ["tag", t.facetTags]]) {
        const fixed = this._search.scope(name);
        const picked = s.filters[name];
        const offered = s.facets[name]
          .filter((f) => f && typeof f.value === "string" && !fixed.includes(f.value)
            && !picked.includes(f.value)).slice(0, 5);
        const group = [
          ...picked.map((value) => h("button", { type: "button", className: "facet",
            "aria-pressed": "true", "data-facet": name, title: fill(t.facetRemove, { value }),
            onclick: () => this._search.toggleFilter(name, value) }, value, h("span",
            { className: "n", "aria-hidden": "true", text: "×" }))),
          ...offered.map((f) => h("button", { type: "button", className: "facet",
            "aria-pressed": "false", "data-facet": name,
            onclick: () => this._search.toggleFilter(name, f.value) }, String(f.value),
            h("span", { className: "n", text: String(Number(f.count) || 0) }))),
        ];
        if (group.length) {
          chips.push(h("span", { className: "facets", role: "group", "aria-label": label },
            h("span", { className: "facet-label", "aria-hidden": "true", text: `${label}:` }),
            group));
        }
      }
      return h("div", { className: "summary" }, h("span", { className: "count", text: count }),
        chips);
    }

    /** "See all N results": the service's results page, when the panel shows only some. */
    _renderMore(t, status) {
      const s = this._s;
      const more = status === "results" && s.total > s.results.length;
      this._more.hidden = !more;
      this._more.replaceChildren(...(more ? [h("a", { href: this._search.allResultsUrl(),
        target: this._target(), rel: this._target() === "_blank" ? "noopener" : null,
        className: "see-all", text: fill(t.seeAll, { count: s.total }) })] : []));
    }

    _idleScreen(t) {
      const recent = this._search.recent();
      if (!recent.length) return h("div", { className: "screen idle" }, h("p", { text: t.idleHint }));
      return h("div", { className: "screen idle" },
        h("h3", {}, h("span", { text: t.recentTitle }), h("button", { type: "button",
          className: "linklike", text: t.recentClear,
          onclick: () => { this._search.saveRecent([]); this.render(); } })),
        h("ul", { className: "recent", "aria-label": t.recentTitle },
          recent.map((q) => h("li", {}, h("button", { type: "button", text: q,
            onclick: () => this._setQuery(q) })))));
    }

    _emptyScreen(t, weak) {
      const s = this._s;
      return h("div", { className: `screen empty${weak ? " weak" : ""}` },
        h("p", { text: fill(weak ? t.weak : t.empty, { query: s.query }) }),
        s.suggestion ? h("p", { className: "suggestion" }, `${t.didYouMean} `,
          h("button", { type: "button", className: "linklike", text: s.suggestion,
            onclick: () => this._setQuery(s.suggestion) })) : null,
        h("div", { className: "actions" }, h("button", { type: "button", className: "primary",
          text: t.askAssistant, onclick: () => { this._setTab("ask"); this._ask(s.query); } }),
          weak ? h("button", { type: "button", className: "secondary", text: t.weakShow,
            onclick: () => { s.status = "results"; this.render(); this._input.focus(); } })
            : null));
    }

    _resultItem(r, i, t) {
      const url = safeUrl(r.url, `${this._endpoint().url}/`);
      const fresh = r.freshness || {};
      let badge = null;
      if (fresh.status === "unverified" || fresh.banner === true) {
        // banner is a flag in search results, a sentence in some other payloads.
        badge = h("span", { className: "badge unverified", text: t.unverified,
          title: typeof fresh.banner === "string" && fresh.banner ? fresh.banner : t.unverifiedTitle });
      } else if (fresh.status === "stale") {
        badge = h("span", { className: "badge stale", text: t.stale });
      }
      const matched = r.matched || {};
      const list = (v) => (Array.isArray(v) ? v : []);
      const tags = [...new Set([...list(r.services), ...list(matched.services), ...list(r.tags),
        ...list(matched.tags)].map(String))].slice(0, 6);
      return h("li", { role: "option", id: `${this._uid}-opt-${i}`, "aria-selected": "false",
          "data-id": r.id, className: "result",
          onclick: (e) => {
            // Let modified clicks on the link open a new tab natively, but still record them.
            const modified = e.ctrlKey || e.metaKey || e.shiftKey || e.button === 1;
            if (modified && e.target.closest && e.target.closest("a")) {
              this._search.recordClick(i);
              return;
            }
            e.preventDefault();
            this._openResult(i);
          },
          onmousemove: () => { if (this._s.selected !== i) { this._s.selected = i; this._updateSelection(false); } } },
        h("div", { className: "head" },
          h("a", { className: "title", href: url, tabindex: "-1" },
            r.title_html ? highlight(r.title_html) : String(r.title || r.id)),
          badge),
        r.snippet ? h("p", { className: "snippet" },
          r.snippet_section ? h("span", { className: "section",
            text: `${String(r.snippet_section)} › ` }) : null,
          highlight(r.snippet)) : null,
        tags.length ? h("div", { className: "tags" },
          tags.map((tag) => h("span", { className: "tag", text: String(tag) }))) : null);
    }

    _renderChat(t) {
      const chat = this._s.chat;
      const nodes = [h("p", { className: "intro", text: t.askIntro })];
      chat.turns.forEach((turn, i) => nodes.push(this._turn(turn, i, t)));
      if (chat.pending) {
        nodes.push(h("div", { className: "turn bot pending" },
          h("span", { className: "spinner", "aria-hidden": "true" }), t.thinking));
      }
      this._log.replaceChildren(...nodes);
      this._askInput.disabled = chat.pending;
      this._askButton.disabled = chat.pending;
      this._log.scrollTop = this._log.scrollHeight;

      const esc = chat.escalation;
      let handoff = null;
      if (esc.status === "done") {
        handoff = h("p", { className: "done", role: "status",
          "data-outcome": esc.outcome || "",
          text: fill(esc.outcome === "stored" ? t.escalateStored
            : esc.outcome === "failed" || esc.outcome === "pending" ? t.escalateFailed
              : t.escalateDone, { ticket: esc.ticket }) });
      } else if (esc.open) {
        const description = h("textarea", { rows: "3", name: "description" });
        description.value = esc.description || "";
        const contact = h("input", { type: "text", name: "contact", autocomplete: "email" });
        contact.value = esc.contact || "";
        handoff = h("form", { className: "escalate", onsubmit: (e) => {
          e.preventDefault();
          this._escalate(description.value.trim(), contact.value.trim());
        } },
          h("h3", { text: t.escalateTitle }),
          h("label", {}, t.escalateDescription, description),
          h("label", {}, t.escalateContact, contact),
          esc.status === "error" ? h("p", { className: "error", role: "alert",
            text: esc.error || t.escalateError }) : null,
          h("div", { className: "actions" },
            h("button", { type: "submit", className: "primary", disabled: esc.status === "sending",
              text: esc.status === "sending" ? t.escalateSending : t.escalateSubmit }),
            h("button", { type: "button", className: "secondary", text: t.escalateCancel,
              onclick: () => this._chat.cancelEscalation() })));
      } else if (chat.sessionId) {
        handoff = h("button", { type: "button", className: "linklike talk-to-human",
          text: t.talkToHuman, onclick: () => this._openEscalation() });
      }
      this._handoff.replaceChildren(...(handoff ? [handoff] : []));
    }

    _turn(turn, index, t) {
      if (turn.role === "user") {
        return h("div", { className: "turn user" }, h("span", { className: "who", text: t.you }),
          h("p", { className: "text", text: turn.text }));
      }
      if (turn.role === "error") {
        return h("div", { className: "turn bot error", role: "alert", text: turn.text });
      }
      const reply = turn.reply || {};
      const base = `${this._endpoint().url}/`;
      const sources = Array.isArray(reply.sources) ? reply.sources : [];
      // The chatbot carries an unverified source's banner in reply.freshness (text or flag).
      const fr = reply.freshness && typeof reply.freshness === "object" ? reply.freshness : {};
      const text = (v) => (typeof v === "string" && v ? v : "");
      const banner = text(reply.banner) || text(fr.banner) || text(fr.text) ||
        (fr.banner === true || fr.status === "unverified" ? t.unverifiedTitle : "");
      const options = Array.isArray(reply.options) ? reply.options : [];
      const el = h("div", { className: `turn bot kind-${String(reply.kind || "answer")}`,
          "data-kind": String(reply.kind || "") },
        h("span", { className: "who", text: t.assistant }),
        // A badge, not the banner again: the answer text already quotes it.
        banner ? h("p", { className: "banner" }, h("span", { className: "badge unverified",
          title: String(banner), text: t.unverified })) : null,
        h("p", { className: "text", text: String(reply.text || "") }));
      if (options.length) {
        el.append(h("div", { className: "options" }, options.map((opt) => {
          const label = typeof opt === "string" ? opt : String(opt.label || opt.title || "");
          const message = typeof opt === "string" ? opt
            : String(opt.message || opt.value || opt.label || opt.title || "");
          return h("button", { type: "button", className: "secondary", text: label,
            disabled: this._s.chat.pending, onclick: () => this._ask(message) });
        })));
      }
      if (sources.length) {
        el.append(h("p", { className: "sources-title", text: t.sources }),
          h("ol", { className: "sources" }, sources.map((src) => h("li", {},
            h("a", { href: safeUrl(src.url, base), target: this._target(), rel: "noopener",
              text: String(src.title || src.id || "") })))));
      }
      if (reply.kind === "answer") {
        let row;
        if (turn.feedback === "yes" || turn.feedback === "no") {
          row = h("div", { className: "feedback", role: "status", text: t.feedbackThanks });
        } else {
          const send = (helpful) => this._chat.feedback(index, helpful);
          row = h("div", { className: "feedback" }, h("span", { text: t.helpfulPrompt }),
            h("button", { type: "button", className: "secondary", text: t.helpfulYes,
              disabled: turn.feedback === "sending", onclick: () => send(true) }),
            h("button", { type: "button", className: "secondary", text: t.helpfulNo,
              disabled: turn.feedback === "sending", onclick: () => send(false) }),
            turn.feedback === "error" ? h("span", { role: "alert", text: t.feedbackError }) : null);
        }
        el.append(row);
      }
      if ((reply.kind === "fallback" || reply.kind === "handoff" || turn.feedback === "no") &&
          !this._s.chat.escalation.open && this._s.chat.escalation.status !== "done" &&
          index === this._s.chat.turns.length - 1) {
        el.append(h("div", { className: "actions" }, h("button", { type: "button",
          className: "primary", text: t.talkToHuman, onclick: () => this._openEscalation() })));
      }
      return el;
    }

    _announce(text) {
      if (this._status.textContent !== text) this._status.textContent = text;
    }

    _updateSelection(scroll) {
      const s = this._s;
      const items = this._listbox.children;
      let active = "";
      for (let i = 0; i < items.length; i++) {
        const on = i === s.selected;
        items[i].setAttribute("aria-selected", String(on));
        if (on) {
          active = items[i].id;
          if (scroll) items[i].scrollIntoView({ block: "nearest" });
        }
      }
      if (active) this._input.setAttribute("aria-activedescendant", active);
      else this._input.removeAttribute("aria-activedescendant");
    }

    /* ---- search ---- */

    _setTab(tab) {
      if (this._s.tab === tab) return;
      this._s.tab = tab;
      this.render();
    }

    _focusTab() {
      const target = this._s.tab === "ask" ? this._askInput : this._input;
      if (target) target.focus();
    }

    _setQuery(q) {
      this._s.query = q;
      this._input.value = q;
      this._input.focus();
      this._search.search(q);
    }

    _onInputKey(e) {
      const s = this._s;
      const n = s.status === "results" ? s.results.length : 0;
      switch (e.key) {
        case "ArrowDown":
          if (!n) return;
          e.preventDefault();
          s.selected = s.selected < 0 ? 0 : (s.selected + 1) % n;
          this._updateSelection(true);
          break;
        case "ArrowUp":
          if (!n) return;
          e.preventDefault();
          s.selected = s.selected <= 0 ? n - 1 : s.selected - 1;
          this._updateSelection(true);
          break;
        case "Enter":
          e.preventDefault();
          if (n) this._openResult(s.selected >= 0 ? s.selected : 0);
          else if (s.query.trim() && s.status !== "loading") this._search.search(s.query);
          break;
        case "Escape":
          e.preventDefault();
          if (this._dialog) this.close();
          else if (this._input.value) { this._input.value = ""; this._search.input(""); }
          break;
        default:
      }
    }

    _onTabKey(e) {
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      e.preventDefault();
      this._setTab(this._s.tab === "search" ? "ask" : "search");
      this._tabs[this._s.tab].focus();
    }

    _documentKey(e) {
      if (e.defaultPrevented || this._destroyed) return;
      const k = (e.key || "").toLowerCase();
      const origin = e.composedPath ? e.composedPath()[0] : e.target;
      if (k === "k" && (e.ctrlKey || e.metaKey) && !e.altKey) {
        e.preventDefault();
        if (this._dialog && this._dialog.open) this.close();
        else this.open();
      } else if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey &&
                 !isEditable(origin) && !this.isOpenModal()) {
        // Also from inside the element (its trigger has focus after Esc); never from a field.
        e.preventDefault();
        this.open();
      }
    }

    isOpenModal() { return Boolean(this._dialog && this._dialog.open); }

    _target() {
      const target = this.getAttribute("target");
      return target === "_blank" || target === "_top" || target === "_parent" ? target : "_self";
    }

    _openResult(i) {
      const s = this._s;
      const r = s.results[i];
      if (!r) return;
      s.selected = i;
      this._updateSelection(false);
      this._search.opened(i);
      const url = safeUrl(r.url, `${this._endpoint().url}/`);
      const event = new CustomEvent("fieldguide-select", { bubbles: true, composed: true,
        cancelable: true, detail: { query: s.query, rank: i + 1, result: r, url } });
      if (!this.dispatchEvent(event) || !url) return;
      // An anchor click honours target (_blank/_top from an iframe) the way a user click would.
      const a = h("a", { href: url, target: this._target(), rel: "noopener" });
      this._root.append(a);
      a.click();
      a.remove();
    }

    /* ---- ask: the element's side (focus and announcements) ---- */

    async _ask(message) {
      const outcome = await this._chat.ask(message);
      if (outcome === "ignored" || outcome === "aborted") return;
      if (outcome === "answered" && this._s.tab === "ask") {
        this._status.textContent = this.strings.answerReceived;
      }
      if (this._s.tab === "ask" && this._askInput) this._askInput.focus();
    }

    _openEscalation() {
      this._chat.openEscalation();
      const field = this._handoff.querySelector("textarea");
      if (field) {
        field.focus();
        field.selectionStart = field.selectionEnd = field.value.length;  // after "What I tried: "
      }
    }

    _escalate(description, contact) {
      const tried = this.strings.escalateTried.trim();
      const text = description.endsWith(tried) ? description.slice(0, -tried.length).trim()
        : description;  // the prompt left unanswered is not part of the description
      return this._chat.escalate(text, contact);
    }
  }

  window.customElements.define(TAG, FieldguideSearch);
  window.FieldguideSearch = FieldguideSearch;
})();
