// The map of the papers: show the hovered (or focused) point's title under the map.  The SVG's own
// <title> is the tooltip; this makes it readable on touch screens and for screen readers (aria-live).
document.addEventListener("DOMContentLoaded", () => {
  const map = document.getElementById("map");
  const out = document.getElementById("map-hover");
  if (!map || !out) return;
  const show = (ev) => {
    const a = ev.target.closest("a");
    const t = a && a.querySelector("title");
    if (t) out.textContent = t.textContent;
  };
  map.addEventListener("mouseover", show);
  map.addEventListener("focusin", show);
});
