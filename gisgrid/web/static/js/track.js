// The tracking page: a tracking code → GET /public/cases/{code} → status and steps; once the case
// is closed and not yet rated, the rating form posts to /public/cases/{code}/rating.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("gg-config").textContent);
  const t = cfg.text;
  const $ = (id) => document.getElementById(id);
  const when = new Intl.DateTimeFormat(cfg.lang === "zh" ? "zh-CN" : "en-GB", {
    timeZone: cfg.timezone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  let code = null;
  window.ggTrack = { status: "ready" };

  function say(id, text, kind) {
    $(id).textContent = text;
    $(id).className = "gg-message" + (text ? " " + kind : "");
  }

  // server messages are "中文 / English": show the reader's half
  function localised(message) {
    const cut = (message || "").indexOf(" / ");
    if (cut < 0) return message;
    return cfg.lang === "zh" ? message.slice(0, cut) : message.slice(cut + 3);
  }

  const time = (iso) => (iso ? when.format(new Date(iso)) : "");
  const label = (status) => cfg.statuses[status] || status;

  async function lookup(wanted) {
    code = wanted.trim().toUpperCase();
    $("gg-code").value = code;
    const params = new URLSearchParams({ code, lang: cfg.lang });
    history.replaceState(null, "", "?" + params.toString());
    $("gg-lang").search = "?" + new URLSearchParams({ code, lang: cfg.lang === "zh" ? "en" : "zh" }).toString();
    try {
      const answer = await fetch(`${cfg.api}/public/cases/${encodeURIComponent(code)}`);
      const data = await answer.json();
      if (!answer.ok) {
        $("gg-case").hidden = $("gg-rating").hidden = true;
        say("gg-message", localised(data.message), "error");
        window.ggTrack = { status: "refused" };
        return;
      }
      say("gg-message", "", "");
      show(data);
    } catch (error) {
      say("gg-message", t.network, "error");
    }
  }

  function show(view) {
    $("gg-case").hidden = false;
    $("gg-status").textContent = t.status + label(view.status);
    $("gg-overdue").hidden = !view.overdue || view.status === "closed";
    const facts = [[t.case_no, view.case_no], [t.what, [view.title, ...(cfg.lang === "zh" ? [view.category, view.subtype] : [view.category_en, view.subtype_en])].filter(Boolean).join(" · ")],
                   [t.reported, time(view.reported_at)]];
    if (view.handled_by) facts.push([t.handled_by, localised(view.handled_by)]);
    if (view.closed_at) facts.push([t.closed, time(view.closed_at)]);
    if (view.satisfaction) facts.push([t.rated, "★".repeat(view.satisfaction) + "☆".repeat(5 - view.satisfaction)]);
    if (view.feedback) facts.push([t.feedback_given, view.feedback]);
    $("gg-facts").replaceChildren(...facts.flatMap(([term, value]) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = term;
      dd.textContent = value;
      return [dt, dd];
    }));
    $("gg-steps").replaceChildren(...view.steps.map((step) => {
      const li = document.createElement("li");
      const at = document.createElement("time");
      at.dateTime = step.at;
      at.textContent = time(step.at);
      li.append(at, label(step.status));
      if (step.note) {
        const note = document.createElement("p");
        note.className = "note";
        note.textContent = step.note;
        li.append(note);
      }
      return li;
    }));
    $("gg-rating").hidden = !view.can_rate;
    window.ggTrack = { status: "shown", view };
  }

  $("gg-lookup").addEventListener("submit", (event) => {
    event.preventDefault();
    lookup($("gg-code").value);
  });

  $("gg-rate").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const score = form.querySelector("input[name=satisfaction]:checked");
    if (!score) { say("gg-rate-message", t.pick_score, "error"); return; }
    const body = { satisfaction: Number(score.value) };
    if (form.elements.feedback.value.trim()) body.feedback = form.elements.feedback.value.trim();
    $("gg-send").disabled = true;
    try {
      const answer = await fetch(`${cfg.api}/public/cases/${encodeURIComponent(code)}/rating`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const data = await answer.json();
      if (!answer.ok) { say("gg-rate-message", localised(data.message), "error"); return; }
      show(data);
      say("gg-message", t.thanks, "ok");
      window.ggTrack.status = "rated";
    } catch (error) {
      say("gg-rate-message", t.network, "error");
    } finally {
      $("gg-send").disabled = false;
    }
  });

  const given = new URLSearchParams(location.search).get("code");
  if (given) lookup(given);
})();
