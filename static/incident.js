/* The incident page (GET /incidents/{id}). Without this script every diagnostic step has its
 * own "Mark done" button and every form posts as it is; with it, ticking a step's box sends that
 * step's form (same fields, same CSRF value), and the retrospective's article field is required
 * only for the answers that name an article. No server text is written here. */
(() => {
  "use strict";

  for (const form of document.querySelectorAll("form.step-form")) {
    const box = form.querySelector("input[type=checkbox]");
    if (!box || box.disabled || typeof form.requestSubmit !== "function") continue;
    form.classList.add("auto");  // pages.css hides the button: the box is the control
    box.addEventListener("change", () => {
      if (!box.checked) return;
      box.disabled = true;  // one submission per tick
      form.requestSubmit();
    });
  }

  const retro = document.querySelector("form.retro");
  if (retro) {
    const article = retro.querySelector("input[name=article_id]");
    const sync = () => {
      const picked = retro.querySelector("input[name=outcome]:checked");
      article.required = Boolean(picked && (picked.value === "updated" || picked.value === "created"));
    };
    retro.addEventListener("change", sync);
    sync();
  }

  // After an escalation or a draft, bring what was made into view (and to a screen reader).
  const made = document.querySelector("#packet, #draft-made");
  if (made) made.focus();
})();
