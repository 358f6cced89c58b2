// The residents' report form: a click on the map drops (or moves) the pin, the form goes to
// POST /public/cases with one Idempotency-Key per form fill, so a double click or a retry after
// a lost answer gives the case the first request made instead of a second one.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("gg-config").textContent);
  const t = cfg.text;
  const map = window[cfg.map];
  const $ = (id) => document.getElementById(id);
  const form = $("gg-form");
  let pin = null, key = newKey(), categories = [], unsent = null;
  window.ggReport = { status: "loading" };

  // crypto.randomUUID needs a secure context; an intranet server on plain http is not one
  function newKey() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function say(text) {
    $("gg-message").textContent = text;
    $("gg-message").className = "gg-message" + (text ? " error" : "");
  }

  const localised = (message) => window.ggLocalised(message);

  // "title：…" names the form's field by its label, as the reader sees it
  function withLabel(message, where) {
    const field = (where || "").split(".").pop();
    const input = field && form.elements[field];
    const label = input && input.closest("label");
    return label ? message.replace(`${field}：`, `${label.firstChild.textContent.trim()}：`)
                          .replace(`${field}: `, `${label.firstChild.textContent.trim()}: `) : message;
  }

  function place(latlng) {
    if (pin) pin.setLatLng(latlng);
    else {
      pin = L.marker(latlng, { draggable: true, autoPan: true }).addTo(map);
      pin.on("dragend", () => place(pin.getLatLng()));
    }
    const p = pin.getLatLng();
    $("gg-pin").textContent = `${t.pin} ${p.lat.toFixed(6)}, ${p.lng.toFixed(6)}`;
    $("gg-pin").className = "gg-pin set";
    say("");
  }

  map.on("click", (event) => place(event.latlng));

  form.elements.category.addEventListener("change", () => {
    const chosen = categories.find((c) => c.code === form.elements.category.value);
    const select = form.elements.subtype;
    select.length = 1;  // keep "not sure"
    for (const s of chosen ? chosen.subtypes : []) {
      select.add(new Option(cfg.lang === "zh" ? s.name_zh : s.name_en, s.code));
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!pin) { say(t.need_pin); return; }
    const invalid = form.querySelector(":invalid");
    if (invalid) { invalid.reportValidity(); return; }
    const f = form.elements;
    const p = pin.getLatLng();
    // the pin is in the basemap's system (GCJ-02 / BD-09 tiles): the API converts it to WGS84
    // a report whose answer was lost is sent again exactly as it was, with its key, so the
    // server returns the case it may have made instead of refusing the key for a changed report
    const body = unsent || { category: f.category.value, title: f.title.value.trim(),
                             description: f.description.value.trim(),
                             location: { lon: p.lng, lat: p.lat, crs: cfg.basemap_crs } };
    if (!unsent && f.subtype.value) body.subtype = f.subtype.value;
    if (!unsent && f.reporter_name.value.trim()) body.reporter_name = f.reporter_name.value.trim();
    unsent = null;
    $("gg-submit").disabled = true;
    $("gg-submit").textContent = t.sending;
    window.ggReport.status = "sending";
    try {
      const answer = await fetch(`${cfg.api}/public/cases`, {
        method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify(body) });
      const data = await answer.json();
      if (answer.ok) done(data);
      else {
        // refused: nothing was stored, so the corrected form is a new fill with a new key
        key = newKey();
        say(t.failed + withLabel(localised(data.message), data.where));
        window.ggReport.status = "refused";
      }
    } catch (error) {
      unsent = body;
      say(t.network);  // the same key and body on retry: if the case was made, the retry returns it
      window.ggReport.status = "error";
    } finally {
      $("gg-submit").disabled = false;
      $("gg-submit").textContent = t.submit;
    }
  });

  function done(view) {
    form.hidden = true;
    $("gg-done").hidden = false;
    $("gg-code").textContent = view.tracking_code;
    $("gg-track").href = `/track?code=${encodeURIComponent(view.tracking_code)}&lang=${cfg.lang}`;
    window.ggReport = { status: "done", tracking_code: view.tracking_code };
  }

  $("gg-again").addEventListener("click", () => {
    form.reset();
    form.elements.subtype.length = 1;
    key = newKey();
    if (pin) { map.removeLayer(pin); pin = null; }
    $("gg-pin").textContent = t.no_pin;
    $("gg-pin").className = "gg-pin";
    say("");
    $("gg-done").hidden = true;
    form.hidden = false;
    window.ggReport = { status: "ready" };
  });

  fetch(`${cfg.api}/case-categories`).then((answer) => answer.json()).then((data) => {
    categories = data;
    for (const c of data) form.elements.category.add(new Option(cfg.lang === "zh" ? c.name_zh : c.name_en, c.code));
    window.ggReport.status = "ready";
  });
})();
