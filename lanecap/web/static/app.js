// lanecap console: login, keyboard navigation, booth live view (SSE), reviews, lists.
"use strict";
(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  async function api(method, url, body, isForm) {
    const headers = { "X-CSRF-Token": csrf(), "Accept": "application/json" };
    if (body && !isForm) headers["Content-Type"] = "application/json";
    const res = await fetch(url, { method, headers, credentials: "same-origin",
      body: body ? (isForm ? body : JSON.stringify(body)) : undefined });
    if (res.status === 204) return null;
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
    return data;
  }

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  // Login ---------------------------------------------------------------------------
  const login = $("#login");
  if (login) {
    login.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const err = $("#login-error");
      err.hidden = true;
      try {
        await api("POST", "/api/auth/login", {
          name: $("#name").value.trim(), password: $("#password").value, totp: $("#totp").value.trim(),
        });
        window.location.assign(login.dataset.next || "/");
      } catch (e) {
        err.textContent = "Sign-in failed. Check your name, password and code.";
        err.hidden = false;
      }
    });
  }
  const logout = $("#logout");
  if (logout) logout.addEventListener("click", async () => {
    try { await api("POST", "/api/auth/logout"); } finally { window.location.assign("/login"); }
  });

  // Keyboard ------------------------------------------------------------------------
  let pendingG = false;
  function rows() { return $$("table#recent tbody tr[data-id], table#results tbody tr[data-id]"); }
  function move(delta) {
    const all = rows(); if (!all.length) return;
    let i = all.findIndex((r) => r.classList.contains("selected"));
    all.forEach((r) => r.classList.remove("selected"));
    i = Math.max(0, Math.min(all.length - 1, (i < 0 ? 0 : i + delta)));
    all[i].classList.add("selected");
    all[i].scrollIntoView({ block: "nearest" });
  }
  function openSelected() {
    const sel = rows().find((r) => r.classList.contains("selected"));
    const a = sel && sel.querySelector("a");
    if (a) window.location.assign(a.href);
  }
  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (ev.key === "Escape") { const f = $("#correct-form"); if (f) f.hidden = true; if (t.blur) t.blur(); return; }
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (pendingG) {
      pendingG = false;
      const a = $(`nav a[data-key="${ev.key}"]`);
      if (a) { ev.preventDefault(); window.location.assign(a.href); }
      return;
    }
    switch (ev.key) {
      case "g": pendingG = true; setTimeout(() => { pendingG = false; }, 1200); break;
      case "/": { const p = $("#plate"); if (p) { ev.preventDefault(); p.focus(); p.select(); }
                  else { const s = $('nav a[data-key="s"]'); if (s) window.location.assign(s.href); } break; }
      case "j": move(1); break;
      case "k": move(-1); break;
      case "o": case "Enter": openSelected(); break;
      case "n": { const n = $("#next-page"); if (n) window.location.assign(n.href); break; }
      case "c": review("confirm"); break;
      case "e": review("correct"); break;
      case "?": alert("g b booth · g s search · g l lists · g h health\n/ search · j k move · o open\nc confirm · e correct · n next page"); break;
      default: break;
    }
  });

  // Booth -----------------------------------------------------------------------------
  const booth = $("#booth");
  function currentId() { const c = $(".current-card"); return c ? c.dataset.id : null; }
  async function review(action, text) {
    const id = currentId(); if (!id || !booth) return;
    if (action === "correct" && text === undefined) {
      const f = $("#correct-form"); f.hidden = false;
      const input = $("#correct-text"); input.value = ($(".current-card .plate") || {}).textContent || ""; input.focus(); input.select();
      return;
    }
    try {
      const r = await api("POST", `/api/crossings/${id}/review`, { action, plate_text: text || null });
      const facts = $(".current-card .facts");
      const note = document.createElement("div");
      note.className = "muted review-note";
      note.textContent = action === "confirm" ? "Confirmed." : `Corrected to ${r.plate_text}.`;
      facts.appendChild(note);
      if (action === "correct") {
        $$(".current-card .plate").forEach((p) => { p.textContent = r.plate_text; p.classList.remove("unread"); });
        const row = $(`#recent tr[data-id="${id}"] .plate`); if (row) row.textContent = r.plate_text;
      }
    } catch (e) { alert(e.message); }
  }
  const cf = $("#correct-form");
  if (cf) {
    cf.addEventListener("submit", (ev) => { ev.preventDefault(); cf.hidden = true; review("correct", $("#correct-text").value.trim()); });
    $("#correct-cancel").addEventListener("click", () => { cf.hidden = true; });
  }
  $$(".current [data-action]").forEach((b) => b.addEventListener("click", () => review(b.dataset.action)));

  function conf(v) {
    if (v == null) return '<span class="conf">–</span>';
    const cls = v < 0.6 ? "low" : v < 0.85 ? "mid" : "high";
    return `<span class="conf ${cls}">${Math.round(v * 100)}%</span>`;
  }
  function plate(c) {
    return c.plate_text ? `<span class="plate">${esc(c.plate_text)}</span>` : '<span class="plate unread">no read</span>';
  }
  function flags(c) {
    let h = c.alert ? '<span class="tag alert">ALERT</span>' : "";
    (c.matches || []).forEach((m) => { if (m.decision === "match") h += `<span class="tag alert">${esc(m.kind)} match${m.watch_label ? ": " + esc(m.watch_label) : ""}</span>`; });
    (c.plate_flags || []).forEach((f) => { h += `<span class="tag${f === "check_plate" ? " check" : ""}">${esc(f.replace(/_/g, " "))}</span>`; });
    return h;
  }
  function hhmmss(iso) { return new Date(iso).toISOString().substring(11, 19); }

  function showCrossing(c, lane) {
    const open = `/crossings/${c.id}?reason=${encodeURIComponent("booth " + lane)}`;
    const cur = $("#current");
    cur.classList.toggle("is-alert", !!c.alert);
    cur.innerHTML = `<div class="current-card" data-id="${esc(c.id)}">
      <div class="crops">${c.plate_crop ? `<img class="plate-crop" src="${esc(c.plate_crop)}" alt="plate crop">` : '<div class="nocrop">no plate crop</div>'}
      ${c.face_crop ? `<img class="face-crop" src="${esc(c.face_crop)}" alt="driver face">` : `<div class="nocrop face">${esc(c.face_status.replace(/_/g, " "))}</div>`}</div>
      <div class="facts"><div class="bigplate">${plate(c)} ${conf(c.plate_conf)}</div><div>${flags(c)}</div>
      <div class="muted">${hhmmss(c.started_at)} · face: ${esc(c.face_status.replace(/_/g, " "))}</div>
      <div class="actions"><button type="button" data-action="confirm">Confirm <kbd>c</kbd></button>
      <button type="button" data-action="correct">Correct <kbd>e</kbd></button>
      <a href="${open}">Open <kbd>o</kbd></a></div></div></div>`;
    $$(".current [data-action]").forEach((b) => b.addEventListener("click", () => review(b.dataset.action)));
    addRow(c, lane, true);
  }

  function addRow(c, lane, select) {
    const open = `/crossings/${c.id}?reason=${encodeURIComponent("booth " + lane)}`;
    const tbody = $("#recent tbody");
    if (select) $$("tr", tbody).forEach((r) => r.classList.remove("selected"));
    const tr = document.createElement("tr");
    tr.dataset.id = c.id;
    tr.className = (c.alert ? "is-alert " : "") + (select ? "selected" : "");
    tr.innerHTML = `<td>${hhmmss(c.started_at)}</td><td><a href="${open}">${plate(c)}</a></td><td>${conf(c.plate_conf)}</td>
      <td>${esc(c.face_status.replace(/_/g, " "))}</td><td>${flags(c)}</td>`;
    tbody.insertBefore(tr, tbody.firstChild);
    while (tbody.children.length > 50) tbody.removeChild(tbody.lastChild);
  }

  // A vehicle still in the lane: its plate so far, provisional until its crossing is stored.
  function showPreview(p) {
    const cur = $("#current");
    cur.classList.toggle("is-alert", !!p.alert);
    let tags = '<span class="tag live-tag">in lane · provisional</span>';
    (p.matches || []).forEach((m) => { if (m.decision === "match") tags += `<span class="tag alert">${esc(m.kind)} match${m.watch_label ? ": " + esc(m.watch_label) : ""}</span>`; });
    if (p.alert) tags = '<span class="tag alert">ALERT</span>' + tags;
    cur.innerHTML = `<div class="current-card provisional" data-preview="${esc(p.id)}" data-first-seen="${esc(p.first_seen)}">
      <div class="crops">${p.plate_crop ? `<img class="plate-crop" src="${esc(p.plate_crop)}" alt="plate crop">` : '<div class="nocrop">no plate crop</div>'}
      ${p.face_crop ? `<img class="face-crop" src="${esc(p.face_crop)}" alt="driver face">` : '<div class="nocrop face">no face yet</div>'}</div>
      <div class="facts"><div class="bigplate"><span class="plate">${esc(p.plate_text)}</span> ${conf(p.plate_conf)}</div><div>${tags}</div>
      <div class="muted">${hhmmss(p.first_seen)} · ${p.n_reads} reads so far</div></div></div>`;
  }

  // The stored crossing replaces the previews of its vehicle (seen within its time span).
  function retirePreviews(c) {
    const card = $(".current-card.provisional");
    if (!card || !c.ended_at) return false;
    const seen = Date.parse(card.dataset.firstSeen);
    const from = Date.parse(c.started_at) - 500, to = Date.parse(c.ended_at) + 500;
    return seen >= from && seen <= to;
  }

  // A crossing shown already was announced again (a list match): refresh it in place.
  function updateCrossing(row, c, lane) {
    const open = `/crossings/${c.id}?reason=${encodeURIComponent("booth " + lane)}`;
    row.classList.toggle("is-alert", !!c.alert);
    row.innerHTML = `<td>${hhmmss(c.started_at)}</td><td><a href="${open}">${plate(c)}</a></td><td>${conf(c.plate_conf)}</td>
      <td>${esc(c.face_status.replace(/_/g, " "))}</td><td>${flags(c)}</td>`;
    if (currentId() === c.id) {
      $("#current").classList.toggle("is-alert", !!c.alert);
      const f = $(".current-card .facts > div:nth-child(2)");
      if (f) f.innerHTML = flags(c);
    }
  }

  if (booth && booth.dataset.lane) {
    const lane = booth.dataset.lane;
    const state = $("#live-state");
    const es = new EventSource(`/api/lanes/${encodeURIComponent(lane)}/live`);
    es.onopen = () => { state.textContent = "live"; state.className = "live on"; };
    es.onerror = () => { state.textContent = "reconnecting…"; state.className = "live off"; };
    es.addEventListener("preview", (ev) => {
      const p = JSON.parse(ev.data);
      showPreview(p);
      document.body.dataset.lastPreview = p.id;
      document.body.dataset.lastPreviewArrival = String(Date.now());
    });
    es.addEventListener("crossing", (ev) => {
      const arrived = Date.now();
      const c = JSON.parse(ev.data);
      const row = $(`#recent tr[data-id="${c.id}"]`);
      const replaced = retirePreviews(c);
      const cur = $(".current-card");
      const previewShown = cur && cur.classList.contains("provisional");
      if (!row) {
        if (previewShown && !replaced) addRow(c, lane, false);  // an earlier vehicle: keep the one in the lane
        else showCrossing(c, lane);
      } else updateCrossing(row, c, lane);
      document.body.dataset.lastCrossing = c.id;
      document.body.dataset.lastArrival = String(arrived);
    });
  }
  // The booth remembers its lane (this browser only).
  const laneSelect = $("#lane-select");
  if (laneSelect) {
    const saved = window.localStorage.getItem("lanecap.lane");
    const asked = new URLSearchParams(window.location.search).get("lane");
    if (!asked && saved && saved !== laneSelect.value &&
        Array.from(laneSelect.options).some((o) => o.value === saved)) {
      window.location.replace(`/booth?lane=${encodeURIComponent(saved)}`);
    }
    laneSelect.addEventListener("change", () => {
      window.localStorage.setItem("lanecap.lane", laneSelect.value);
      laneSelect.form.submit();
    });
  }

  // Face search ---------------------------------------------------------------------
  const faceForm = $("#face-form");
  if (faceForm) faceForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("#face-error"); err.hidden = true;
    const reason = new FormData(faceForm).get("reason");
    try {
      const r = await api("POST", "/api/search/faces", new FormData(faceForm), true);
      const tbody = $("#face-results tbody");
      tbody.innerHTML = r.items.map((c) => `<tr class="${c.alert ? "is-alert" : ""}" data-id="${esc(c.id)}">
        <td>${esc(c.started_at.substring(0, 19).replace("T", " "))}</td><td>${esc(c.lane_id)}</td>
        <td><a href="/crossings/${esc(c.id)}?reason=${encodeURIComponent(reason)}">${plate(c)}</a></td>
        <td>${c.score == null ? "" : c.score.toFixed(3)}</td><td>${flags(c)}</td></tr>`).join("")
        || '<tr><td colspan="5" class="muted">Nothing found.</td></tr>';
      $("#face-results").hidden = false;
    } catch (e) { err.textContent = e.message; err.hidden = false; }
  });

  // Lists -----------------------------------------------------------------------------
  function listsError(e) { const p = $("#lists-error"); p.textContent = e.message; p.hidden = false; }
  const addPlate = $("#add-plate");
  if (addPlate) addPlate.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(addPlate);
    try {
      await api("POST", "/api/lists/plates", { plate: f.get("plate"), label: f.get("label") || "",
        reason: f.get("reason"), expires: f.get("expires") || null });
      window.location.reload();
    } catch (e) { listsError(e); }
  });
  const importCsv = $("#import-csv");
  if (importCsv) importCsv.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/api/lists/plates/import", new FormData(importCsv), true);
      $("#import-summary").textContent = `${r.imported} plate(s) imported, ${r.rejected.length} row(s) rejected.`;
      $("#import-rejected").innerHTML = r.rejected.map((x) => `<li>line ${x.line}: ${esc(x.reason)}</li>`).join("");
      $("#import-report").hidden = false;
      if (!r.rejected.length) window.location.reload();
    } catch (e) { listsError(e); }
  });
  const addFace = $("#add-face");
  if (addFace) addFace.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const fd = new FormData(addFace);
    if (!fd.get("expires")) fd.delete("expires");
    try { await api("POST", "/api/lists/faces", fd, true); window.location.reload(); }
    catch (e) { listsError(e); }
  });
  $$("[data-expire]").forEach((b) => b.addEventListener("click", async () => {
    const reason = window.prompt("Why is this entry taken off the list?");
    if (!reason) return;
    try { await api("POST", `/api/lists/${b.dataset.expire}/expire`, { reason }); window.location.reload(); }
    catch (e) { listsError(e); }
  }));
})();
