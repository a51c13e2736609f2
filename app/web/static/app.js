// The dashboard's only script (CSP: script-src 'self'). Pages work without it; it adds:
// live progress on a run's page (its table swapped every two seconds until the run ends).
"use strict";
(function () {
  const box = document.querySelector("[data-poll]");
  if (!box) return;
  const url = box.getAttribute("data-poll");
  async function poll() {
    const current = box.querySelector("#progress");
    if (current && current.dataset.finished === "true") return;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.ok) {
        const html = await response.text();
        const parsed = new DOMParser().parseFromString(html, "text/html");
        const fresh = parsed.querySelector("#progress");
        if (fresh && current) current.replaceWith(fresh);
      }
    } catch (error) {
      // The service restarting, say: try again at the next tick.
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 2000);
})();
