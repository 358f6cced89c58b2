// Every map page: frame the page's area once the map has its real size (on a phone the map
// is the top of the screen and the panel sits below it; on a desktop the panel floats over
// the map's left side), and draw on the built-in blank basemap when the configured tiles fail.
(function () {
  "use strict";
  const frame = JSON.parse(document.getElementById("gg-frame").textContent);
  const map = window[frame.map];
  const PHONE = 700;

  // server messages are "中文 / English": the page's scripts show the reader's half
  window.ggLocalised = function (message) {
    const cut = (message || "").indexOf(" / ");
    if (cut < 0) return message;
    return frame.lang === "zh" ? message.slice(0, cut) : message.slice(cut + 3);
  };

  function fit() {
    map.invalidateSize();
    map.options.zoomSnap = 0.25;  // a phone's few hundred pixels: frame closer than whole zoom steps
    const panel = document.querySelector(".gg-panel");
    const phone = window.innerWidth < PHONE;
    const left = !phone && panel ? Math.min(panel.getBoundingClientRect().right + 10, map.getSize().x / 2) : 10;
    map.fitBounds(frame.bounds, { paddingTopLeft: [left, 10], paddingBottomRight: [10, 10] });
    window.ggFrame = { bounds: frame.bounds, phone: phone };
  }

  function phoneControls() {
    // an expanded layer list covers a phone's map: fold it behind its button
    document.querySelectorAll(".leaflet-control-layers-expanded").forEach((control) => {
      control.classList.remove("leaflet-control-layers-expanded");
      const toggle = control.querySelector(".leaflet-control-layers-toggle");
      if (toggle) {
        toggle.addEventListener("click", (event) => {
          event.preventDefault();
          control.classList.toggle("leaflet-control-layers-expanded");
        });
      }
    });
  }

  function fallBackOnTileErrors() {
    map.eachLayer((layer) => {
      if (!(layer instanceof L.TileLayer) || layer._url === frame.blank) return;
      let failed = 0;
      layer.on("tileerror", () => {
        failed += 1;
        if (failed === 3) layer.setUrl(frame.blank);  // unreachable after all: stop asking
      });
    });
  }

  if (window.innerWidth < PHONE) phoneControls();
  fallBackOnTileErrors();
  fit();
  window.addEventListener("orientationchange", fit);
})();
