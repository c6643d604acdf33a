/* The owners' page: stale and unverified articles by team and owner, with review buttons.
 * Data from GET /api/freshness; reviews go to POST /api/articles/{id}/review as the signed-in
 * person (the session cookie, same origin) or with a key the owner pastes (kept in
 * sessionStorage only; it also widens the report to what the key may read). Server data is
 * only ever set as textContent. */
(() => {
  "use strict";

  const root = document.getElementById("fg-freshness");
  if (!root) return;
  const endpoint = (root.dataset.endpoint || "").replace(/\/+$/, "");
  const form = document.getElementById("fg-token");
  const tokenInput = document.getElementById("fg-token-input");
  const tokenState = document.getElementById("fg-token-state");
  const showDue = document.getElementById("fg-show-due");
  const TOKEN_KEY = "fieldguide:review-token";
  const ORDER = { unverified: 0, stale: 1, due_soon: 2, fresh: 3 };
  const OUTCOMES = [
    ["still-accurate", "Still accurate"], ["updated", "Updated"], ["retire", "Retire"],
  ];
  let articles = [];

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else if (k === "className") el.className = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined && c !== false) el.append(c);
    }
    return el;
  }

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (_) { return ""; }
  }

  function signedIn() {
    return document.querySelector('.who[data-signed-in="true"]') !== null;
  }

  function authHeaders(extra) {
    const t = token();
    return t ? { ...extra, Authorization: `Bearer ${t}` } : { ...extra };
  }

  function setToken(value) {
    try { sessionStorage.setItem(TOKEN_KEY, value); } catch (_) { /* storage blocked */ }
    tokenState.textContent = value ? "Token set for this tab." : "No token.";
  }

  // The report may list articles at the top level or under a key; accept both.
  function listOf(data) {
    if (Array.isArray(data)) return data;
    for (const key of ["articles", "items", "results"]) {
      if (data && Array.isArray(data[key])) return data[key];
    }
    return [];
  }

  function articleUrl(a) {
    try {
      const url = new URL(a.url || `/articles/${encodeURIComponent(a.id)}`, `${endpoint}/`);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) { return null; }
  }

  function render() {
    const wanted = new Set(["unverified", "stale"]);
    if (showDue && showDue.checked) wanted.add("due_soon");
    // Flagged: readers voted it unhelpful, so it is due now whatever its review-by date.
    const shown = articles.filter((a) => (wanted.has(a.status) || a.flagged) && !a.retired);
    const counts = {};
    for (const a of articles) {
      counts[a.status] = (counts[a.status] || 0) + 1;
      if (a.flagged && !a.retired) counts.flagged = (counts.flagged || 0) + 1;
    }
    const summary = h("div", { className: "summary" },
      ["unverified", "stale", "due_soon", "fresh", "flagged"].map((s) => h("div",
        { className: "count" }, h("strong", { text: String(counts[s] || 0) }),
        s.replace("_", " "))));
    if (!shown.length) {
      root.replaceChildren(summary, h("p", { text: "Nothing to review. Every article is fresh." }));
      return;
    }
    const teams = new Map();
    for (const a of shown) {
      const team = a.team || "No team";
      const owner = a.assignee || a.owner || "Unassigned";
      if (!teams.has(team)) teams.set(team, new Map());
      const owners = teams.get(team);
      if (!owners.has(owner)) owners.set(owner, []);
      owners.get(owner).push(a);
    }
    const sections = [...teams.keys()].sort().map((team) => {
      const owners = teams.get(team);
      return h("section", { className: "team", "data-team": team },
        h("h2", { text: team }),
        [...owners.keys()].sort().map((owner) => {
          const rows = owners.get(owner).sort((x, y) =>
            (ORDER[x.status] ?? 9) - (ORDER[y.status] ?? 9) ||
            String(x.review_by || "").localeCompare(String(y.review_by || "")));
          // The same columns, in the same widths, in every table (table-layout: fixed).
          return h("div", { className: "owner" }, h("h3", { text: owner }),
            h("table", { className: "review-list even" },
              h("colgroup", {}, ["c-article", "c-status", "c-due", "c-review"].map((c) =>
                h("col", { className: c }))),
              h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Article" }),
                h("th", { scope: "col", text: "Status" }),
                h("th", { scope: "col", text: "Review by" }),
                h("th", { scope: "col", text: "Review" }))),
              h("tbody", {}, rows.map(row))));
        }));
    });
    root.replaceChildren(summary, ...sections);
  }

  function row(a) {
    const result = h("span", { className: "review-result", role: "status" });
    const lastEl = h("span", { className: "reviewed-by",
      text: a.reviewed_by ? `Last reviewed by ${a.reviewed_by}` : "" });
    const buttons = OUTCOMES.map(([outcome, label]) => h("button", { type: "button",
      className: outcome === "still-accurate" ? "primary" : "", text: label,
      onclick: () => review(a, outcome, result, buttons, lastEl) }));
    const href = articleUrl(a);
    return h("tr", { "data-id": a.id },
      h("td", {}, href ? h("a", { href, text: a.title || a.id }) : (a.title || a.id), lastEl),
      h("td", {}, h("span", { className: `status ${a.status}`, text: String(a.status).replace("_", " ") }),
        a.flagged ? h("span", { className: "status flagged",
          title: `${a.unhelpful} readers found it unhelpful`,
          text: `flagged · ${a.unhelpful} unhelpful` }) : null),
      h("td", { text: a.review_by || "never reviewed" }),
      h("td", {}, h("div", { className: "review" }, buttons), result));
  }

  async function review(a, outcome, result, buttons, lastEl) {
    if (!token() && !signedIn()) {
      result.textContent = "Paste your review token first.";
      tokenInput.focus();
      return;
    }
    buttons.forEach((b) => { b.disabled = true; });
    result.textContent = "Saving…";
    try {
      const res = await fetch(`${endpoint}/api/articles/${encodeURIComponent(a.id)}/review`, {
        method: "POST",
        headers: authHeaders({ "Content-Type": "application/json" }),
        body: JSON.stringify({ outcome }),
      });
      let data = null;
      try { data = await res.json(); } catch (_) { data = null; }
      if (!res.ok) {
        const msg = data && data.error && data.error.message;
        throw new Error(msg || `HTTP ${res.status}`);
      }
      // The reviewer is who the server recorded (the signed-in person), never a typed name.
      a.reviewed_by = data.reviewer;
      lastEl.textContent = `Last reviewed by ${data.reviewer}`;
      result.textContent = `Reviewed by ${data.reviewer}. Thank you.`;
      a.status = outcome === "retire" ? "retired" : "fresh";
      a.retired = outcome === "retire";
    } catch (err) {
      result.textContent = `Not saved: ${err.message}`;
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  async function load() {
    try {
      const res = await fetch(`${endpoint}/api/freshness`,
        { headers: authHeaders({ Accept: "application/json" }) });
      let data = null;
      try { data = await res.json(); } catch (_) { data = null; }
      if (!res.ok) {
        const msg = data && data.error && data.error.message;
        throw new Error(msg || `HTTP ${res.status}`);
      }
      articles = listOf(data);
      render();
      root.dataset.loads = String(Number(root.dataset.loads || 0) + 1);  // for tests and tools
    } catch (err) {
      root.replaceChildren(h("p", { className: "error", role: "alert",
        text: `Could not load the freshness report: ${err.message}` }));
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setToken(tokenInput.value.trim());
    tokenInput.value = "";
    load();  // the report shows what the key may read
  });
  if (showDue) showDue.addEventListener("change", render);
  tokenState.textContent = token() ? "Token set for this tab." : "";
  load();
})();
