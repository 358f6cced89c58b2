// The case page: the place on a small map among the grid outlines around it, and one form per
// step the workflow accepts from the caller now. A step goes to the cases' API with the case's
// version (If-Match); the API's refusal stands next to the field it names, and a case someone else
// moved meanwhile shows the steps taken since on the refreshed page (its buttons as they are now).
(function () {
  "use strict";
  const desk = window.gisgridPage, cfg = desk.cfg, words = desk.words;
  const notice = document.getElementById("gg-notice");
  const kept = `gg-case-${cfg.case_no}`;  // what the page says after it reloads itself

  // --- the map ----------------------------------------------------------------------------------
  const frame = cfg.map;
  const shift = window.ggShift || ((data) => data);  // WGS84 → the basemap's system (GCJ-02 / BD-09)
  const map = L.map("gg-map", { zoomSnap: 0.25, scrollWheelZoom: false });
  const bounds = L.latLngBounds(shift(frame.bounds[0]), shift(frame.bounds[1]));
  function fit() {
    map.invalidateSize();
    map.fitBounds(bounds);
  }
  fit();  // a view before the overlays: they are drawn in its pixels
  const tiles = L.tileLayer(frame.tiles, { maxZoom: 20, maxNativeZoom: 19, attribution: frame.attribution }).addTo(map);
  let failed = 0;
  tiles.on("tileerror", () => {
    failed += 1;
    if (failed === 3 && tiles._url !== frame.blank) tiles.setUrl(frame.blank);
  });
  L.geoJSON(shift(frame.outlines), {  // the grid holding the place drawn strongest
    interactive: false,
    style: (feature) => (feature.id === frame.grid ? { color: "#b22222", weight: 3, fillOpacity: 0.06 }
      : { color: "#555", weight: 1.5, dashArray: "4 4", fillOpacity: 0 }),
  }).addTo(map);
  L.circleMarker(shift(frame.point), { radius: 9, weight: 3, color: "#fff", fillColor: "#b22222", fillOpacity: 1 })
    .addTo(map);
  window.addEventListener("orientationchange", fit);
  window.ggCaseMap = map;

  // --- after a reload: what was done, or what changed -------------------------------------------
  // as the timeline shows times: the office's zone, YYYY-MM-DD HH:MM
  const stamp = new Intl.DateTimeFormat("sv-SE", { timeZone: cfg.timezone, year: "numeric", month: "2-digit",
                                                   day: "2-digit", hour: "2-digit", minute: "2-digit" });
  function label(status) { return (cfg.statuses && cfg.statuses[status]) || status || ""; }
  function showNotice(saved) {
    notice.replaceChildren();
    const head = document.createElement("p");
    head.textContent = saved.kind === "stale" ? words.stale : `${words.done} ${saved.step}`;
    notice.append(head);
    if (saved.kind === "stale") {
      const list = document.createElement("ol");
      list.className = "gg-since";
      for (const step of saved.steps || []) {
        const item = document.createElement("li");
        const kind = words.kinds[step.kind] ? `${words.kinds[step.kind]} · ` : "";
        const when = stamp.format(new Date(step.at)).replace(",", "");
        item.textContent = `${when} · ${kind}${label(step.from_status)} → ${label(step.to_status)} · ${words.by} ${step.actor}`
          + (step.note ? ` · ${step.note}` : "");
        list.append(item);
      }
      notice.append(list);
    }
    notice.className = "gg-notice " + (saved.kind === "stale" ? "gg-bad" : "gg-good");
    notice.hidden = false;
  }
  const saved = sessionStorage.getItem(kept);
  if (saved) {
    sessionStorage.removeItem(kept);
    showNotice(JSON.parse(saved));
  }

  // --- the steps --------------------------------------------------------------------------------
  const steps = Object.fromEntries(cfg.steps.map((s) => [s.step, s]));
  const buttons = document.querySelectorAll("button.gg-step");
  const forms = document.querySelectorAll("form.gg-step-form");

  function open(name) {
    forms.forEach((form) => { form.hidden = form.dataset.step !== name; });
    buttons.forEach((button) => button.setAttribute("aria-expanded", String(button.dataset.step === name)));
    const form = document.getElementById(`gg-form-${name}`);
    const first = form.querySelector("select, input, textarea");
    form.scrollIntoView({ block: "nearest" });
    if (first) first.focus({ preventScroll: true });
  }
  buttons.forEach((button) => button.addEventListener("click", () => open(button.dataset.step)));
  forms.forEach((form) => form.querySelector(".gg-cancel").addEventListener("click", () => {
    form.hidden = true;
    buttons.forEach((button) => button.setAttribute("aria-expanded", "false"));
  }));

  function say(form, text, kind) {
    const box = form.querySelector(".gg-msg");
    box.textContent = text;
    box.className = "gg-msg" + (kind ? " " + kind : "");
  }

  function clear(form) {
    form.querySelectorAll(".gg-error").forEach((el) => { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    say(form, "", "");
  }

  // the API names where: "note", "duplicate_of", "body.note" (validation), "to", "If-Match" …
  function mark(form, where, message) {
    const name = String(where || "").replace(/^body\./, "");
    const slot = form.querySelector(`.gg-error[data-for="${name}"]`);
    if (!slot) return false;
    slot.textContent = message;
    const field = form.elements[name];
    if (field) field.setAttribute("aria-invalid", "true");
    return true;
  }

  function body(form, step) {
    const out = step.path === "transitions" ? { to: step.to } : {};
    let missing = 0;
    for (const name of step.accepts) {
      const field = form.elements[name];
      const value = field ? field.value.trim() : "";
      if (value === "") {
        if (step.requires.includes(name)) missing += mark(form, name, words.required) ? 1 : 0;
        continue;
      }
      out[name] = field.dataset.type === "int" ? parseInt(value, 10) : value;
    }
    return missing ? null : out;
  }

  async function send(event) {
    event.preventDefault();
    const form = event.target, step = steps[form.dataset.step];
    const button = form.querySelector("button[type=submit]");
    clear(form);
    const data = body(form, step);
    if (data === null) return;
    button.disabled = true;
    say(form, words.saving, "");
    const reply = await desk.call("POST", `/cases/${encodeURIComponent(cfg.case_no)}/${step.path}`, data,
                                  { "If-Match": cfg.etag });
    button.disabled = false;
    if (reply.status === 0) { say(form, words.retry, "gg-bad"); return; }
    const answer = reply.answer || {}, detail = answer.detail || {};
    if (reply.ok) {
      sessionStorage.setItem(kept, JSON.stringify({ kind: "done", step: words.step_names[step.step] }));
      window.location.reload();
      return;
    }
    if (reply.status === 409 && detail.steps_since) {
      sessionStorage.setItem(kept, JSON.stringify({ kind: "stale", steps: detail.steps_since }));
      window.location.reload();
      return;
    }
    const problems = detail.problems && detail.problems.length ? detail.problems
      : [{ where: answer.where, message: answer.message }];
    const unplaced = problems.filter((p) => !mark(form, p.where, desk.local(p.message)));
    if (unplaced.length) say(form, unplaced.map((p) => desk.local(p.message)).join("；"), "gg-bad");
    else say(form, "", "");
  }
  forms.forEach((form) => form.addEventListener("submit", send));
  window.ggCase = { ready: true };
})();
