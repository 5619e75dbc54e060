// The only script of the site, and an optional one: every page works without it (forms post, the page
// comes back at the card's anchor).  With it, an upvote is sent with fetch and the button updated in
// place (no reload, nothing moves); an anonymous visitor is taken to the log-in page, which returns here.
// The "Copy BibTeX" button appears only where the clipboard can be used.
"use strict";
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("vote")) return;
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "Accept": "application/json" },
    });
    const data = await response.json();
    if (response.status === 401 && typeof data.login === "string" && data.login.startsWith("/login?")) {
      window.location.assign(data.login);
      return;
    }
    if (!response.ok) { form.submit(); return; }  // let the server explain (rate limit, expired form)
    const n = Number(data.votes);
    button.setAttribute("aria-pressed", data.voted ? "true" : "false");
    button.setAttribute("aria-label", `${data.voted ? "Remove upvote" : "Upvote"} (${n} upvote${n === 1 ? "" : "s"})`);
    button.querySelector(".count").textContent = String(n);
  } catch (e) {
    form.submit();
  } finally {
    button.disabled = false;
  }
});
document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard) return;
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    });
  }
});
