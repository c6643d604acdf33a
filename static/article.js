/* The article page's "Was this helpful?" box, sent in place. Without this script the form
 * posts and the server redirects back with the answer; with it, the same form (same fields,
 * same CSRF value) goes through fetch and the answer is shown without a reload. Server text
 * is only ever set as textContent. */
(() => {
  "use strict";

  const form = document.querySelector("section.helpful form.vote");
  if (!form || !window.fetch || !window.URLSearchParams) return;
  const status = document.querySelector("section.helpful .vote-status");
  const buttons = [...form.querySelectorAll("button[name=helpful]")];

  form.addEventListener("submit", async (event) => {
    const button = event.submitter;
    if (!button || button.name !== "helpful") return;  // let the browser post it as it is
    event.preventDefault();
    const body = new URLSearchParams(new FormData(form));
    body.set("helpful", button.value);
    buttons.forEach((b) => { b.disabled = true; });
    status.textContent = "Sending…";
    try {
      const res = await fetch(form.action, {
        method: "POST", body, credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      let data = null;
      try { data = await res.json(); } catch (_) { data = null; }
      if (!res.ok) {
        const msg = data && data.error && data.error.message;
        throw new Error(msg || `HTTP ${res.status}`);
      }
      buttons.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      status.textContent = (data && data.message) || "Thanks.";
      form.dataset.voted = button.value;  // for tests and styles
      buttons.forEach((b) => { b.disabled = false; });
    } catch (err) {
      status.textContent = `Your vote was not recorded: ${err.message}`;
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
})();
