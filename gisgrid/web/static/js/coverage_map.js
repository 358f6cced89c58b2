// The coverage map: a defect in the summary's list zooms the map to it. Its box comes with the
// page (gg-config's bounds, in the list's order, already in the basemap's system).
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("gg-config").textContent);
  const map = window[cfg.map];
  document.querySelectorAll("a.gg-defect").forEach((a) => {
    a.addEventListener("click", () => {
      map.fitBounds(cfg.bounds[+a.dataset.index], { maxZoom: 19, padding: [40, 40] });
      window.ggLastDefect = +a.dataset.index;
    });
  });
})();
