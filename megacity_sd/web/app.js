// megacity-sd policy explorer: plain JavaScript drawing SVG, talking to the local server (megacity_sd/explore.py).
// Every move of a slider asks for one run; while a run is on its way, further moves only update the next request
// (at most one request in flight, no queue of stale runs).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#1b6ca8", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"];
  const POLLUTANT_COLORS = { "SO2": "#d95f02", "NOx": "#1b6ca8", "PM2.5": "#7570b3", "APE": "#222222" };
  const PIN_COLORS = ["#b8860b", "#8e44ad", "#16a085", "#c0392b"];
  const QUADRANTS = {
    "III": "both fall (synergy)", "II": "pollutant falls, CO2 rises", "IV": "CO2 falls, pollutant rises",
    "I": "both rise", "x-axis": "only the pollutant changes", "y-axis": "only CO2 changes", "origin": "no change",
  };
  const state = {
    meta: null, city: null, preset: "baseline", presetInfo: null, values: {}, extra: {}, year: 2035,
    uploaded: null, uploadText: null,
  };
  const stats = { latencies: [], modelMs: [], runs: 0, superseded: 0, errors: 0, renders: 0 };
  window.exploreStats = stats;
  const controls = {}; // constant name -> {range, num, row, lever}
  const pins = [];
  let last = null;
  let seq = 0;
  const client = Math.random().toString(36).slice(2) + Date.now().toString(36);
  let inflight = false;
  let pending = null;

  // ------------------------------------------------------------------ helpers
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function fmt(v, unit) {
    if (v === null || v === undefined || !Number.isFinite(v)) return "–";
    if (unit === "year" || unit === "Year") return String(Math.round(v));
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1e4 && a < 1e9) return Math.round(v).toLocaleString("en-US");
    if (a >= 1e9 || a < 1e-3) return v.toExponential(3);
    return String(Number(v.toPrecision(4)));
  }
  function pct(v, digits = 1) {
    return (v === null || !Number.isFinite(v)) ? "–" : (v >= 0 ? "+" : "") + (100 * v).toFixed(digits) + " %";
  }
  function showError(msg) {
    const box = $("error");
    box.textContent = msg;
    box.hidden = false;
  }
  function clearError() { $("error").hidden = true; $("error").textContent = ""; }
  async function api(path, body) {
    const opts = body === undefined ? { method: "GET" } :
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    let r;
    try { r = await fetch(path, opts); } catch (e) { throw new Error("the explorer's server does not answer (" + e.message + "); is 'megacity-sd explore' still running?"); }
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { const j = await r.json(); if (j.error) msg = j.error; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return r;
  }
  async function apiJSON(path, body) { return (await api(path, body)).json(); }
  function nextPaint() { return new Promise((res) => requestAnimationFrame(() => setTimeout(res, 0))); }
  function roleLabel(role) { return { target: "target", start: "start year", phase: "phase-in", value: "value" }[role] || role; }

  // ------------------------------------------------------------------ controls
  function sliderRow(lv, idPrefix) {
    const id = idPrefix + Object.keys(controls).length;
    const row = el("div", { class: "lever", "data-name": lv.name });
    const label = el("label", { for: id }, lv.label || roleLabel(lv.role));
    const range = el("input", { type: "range", id, min: lv.min, max: lv.max, step: lv.step, "data-name": lv.name, "aria-label": lv.name });
    const num = el("input", { type: "number", min: lv.min, max: lv.max, step: "any", "data-name": lv.name, "aria-label": lv.name + " value" });
    const unit = el("span", { class: "unit" }, lv.units);
    row.append(label, range, num, unit);
    range.addEventListener("input", () => setValue(lv.name, parseFloat(range.value), "range"));
    num.addEventListener("change", () => {
      const v = parseFloat(num.value);
      if (!Number.isFinite(v)) { sync(lv.name); return; }
      setValue(lv.name, v, "num");
    });
    controls[lv.name] = { range, num, row, lever: lv };
    return row;
  }

  function buildLevers() {
    const root = $("levers");
    root.textContent = "";
    for (const sec of state.meta.sectors) {
      const det = el("details", { class: "sector", open: "" });
      const n = sec.families.reduce((a, f) => a + f.levers.length, 0);
      det.append(el("summary", {}, `${sec.label} (${sec.families.length} levers, ${n} sliders)`));
      for (const fam of sec.families) {
        const box = el("div", { class: "family", "data-family": fam.family });
        box.append(el("div", { class: "fam-head" }, fam.family));
        if (fam.description) box.append(el("div", { class: "fam-desc" }, fam.description));
        box.append(el("div", { class: "fam-path", "data-path": fam.family }));
        const main = fam.levers.filter((l) => l.role === "target" || l.role === "value");
        const timing = fam.levers.filter((l) => !(l.role === "target" || l.role === "value"));
        for (const lv of main) box.append(sliderRow({ ...lv, family: fam }, "lv"));
        if (timing.length) {
          const t = el("details", { class: "timing" });
          t.append(el("summary", {}, "timing: start year, phase-in"));
          for (const lv of timing) t.append(sliderRow({ ...lv, family: fam }, "lv"));
          box.append(t);
        }
        det.append(box);
      }
      root.append(det);
    }
  }

  function buildUncertainty(rows) {
    const root = $("uncertainty");
    for (const name of Object.keys(controls)) {
      if (controls[name].lever.uncertain) delete controls[name];
    }
    root.textContent = "";
    for (const u of rows) {
      const lv = { name: u.name, label: u.name, role: "value", units: u.units, min: u.lower, max: u.upper, step: u.step,
                   uncertain: u, comment: u.comment };
      const row = sliderRow(lv, "unc");
      row.classList.add("uncertain");
      root.append(row);
    }
    $("uncertainty-box").hidden = rows.length === 0;
  }

  function sync(name) {
    const c = controls[name];
    if (!c) return;
    const v = state.values[name];
    c.range.value = v;
    c.num.value = v;
    const preset = state.presetInfo ? state.presetInfo.values[name] : v;
    c.row.classList.toggle("changed", preset !== v);
  }
  function syncAll() {
    for (const name of Object.keys(controls)) sync(name);
    updateChanged();
  }
  function updateChanged() {
    if (!state.presetInfo) return;
    const n = Object.keys(state.values).filter((k) => state.values[k] !== state.presetInfo.values[k]).length;
    $("changed").textContent = n ? `${n} slider(s) moved from the preset` : "as the preset";
  }

  function pathText(p) {
    if (!p) return "";
    return `baseline path (policies in force): ${fmt(p.initial)} → ${fmt(p.target)} from ${fmt(p.start, "year")} over ${fmt(p.phase)} yr`;
  }

  function updateTitles() {
    const info = state.presetInfo;
    const cityTitle = info ? info.city_title : state.city;
    for (const fam of state.meta.sectors.flatMap((s) => s.families)) {
      const p = info && info.paths[fam.family];
      const node = document.querySelector(`[data-path="${CSS.escape(fam.family)}"]`);
      if (node) node.textContent = p ? pathText(p) : "";
    }
    for (const [name, c] of Object.entries(controls)) {
      const lv = c.lever;
      const lines = [`${name}${lv.family && lv.family.description ? " — " + lv.family.description : ""}`,
        `units: ${lv.units || "dmnl"}; range [${fmt(lv.min)}, ${fmt(lv.max)}]` + (lv.default !== undefined && lv.default !== null ? `; model default ${fmt(lv.default)}` : "")];
      if (info) {
        lines.push(`preset ${info.name} (${cityTitle}): ${fmt(info.values[name])}` + (info.sources[name] ? ` — source: ${info.sources[name]}` : ""));
      }
      if (lv.family && info && info.paths[lv.family.family]) {
        const p = info.paths[lv.family.family];
        lines.push(`${pathText(p)} — source: ${p.source}`);
        if (lv.role === "target") lines.push(state.meta.lever_rule);
      }
      if (lv.uncertain) {
        lines.push(`uncertain (${lv.uncertain.distribution}) over [${fmt(lv.uncertain.lower)}, ${fmt(lv.uncertain.upper)}], nominal ${fmt(lv.uncertain.nominal)}`);
        lines.push(`range source: ${lv.uncertain.source}`);
      }
      if (lv.comment) lines.push(`model: ${lv.comment}`);
      c.row.title = lines.join("\n");
    }
  }

  function setValue(name, v, from) {
    v = Number(v.toPrecision(12));
    state.values[name] = v;
    const c = controls[name];
    if (from !== "range") c.range.value = v;
    if (from !== "num") c.num.value = v;
    c.row.classList.toggle("changed", state.presetInfo && state.presetInfo.values[name] !== v);
    updateChanged();
    schedule();
  }

  function currentConstants() { return { ...state.extra, ...state.values }; }

  // ------------------------------------------------------------------ runs, coalesced
  function schedule() {
    const t0 = performance.now();
    if (pending) pending.t0 = Math.min(pending.t0, t0); else pending = { t0 };
    if (!inflight) pump();
  }

  async function pump() {
    inflight = true;
    stats.busy = true;
    while (pending) {
      const job = pending;
      pending = null;
      const body = { city: state.city, preset: state.preset, constants: currentConstants(), year: state.year,
                     client, seq: ++seq };
      try {
        const res = await apiJSON("/api/run", body);
        if (res.superseded) { stats.superseded++; continue; }
        last = res;
        stats.last = res;
        render(res);
        clearError();
        await nextPaint();
        const ms = performance.now() - job.t0;
        stats.latencies.push(ms);
        stats.modelMs.push(res.ms_model);
        stats.runs++;
        $("status").textContent = `${state.presetInfo ? state.presetInfo.city_title : ""}: updated in ${ms.toFixed(0)} ms (model run ${res.ms_model.toFixed(0)} ms, fast engine)`;
      } catch (e) {
        stats.errors++;
        showError(e.message);
        $("status").textContent = "run failed (see the red line)";
      }
    }
    inflight = false;
    stats.busy = false;
  }

  // ------------------------------------------------------------------ charts (SVG)
  function niceStep(span, n) {
    const raw = (span || 1) / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9));
  }
  function ticks(lo, hi, n) {
    const step = niceStep(hi - lo, n);
    const first = Math.floor(lo / step + 1e-9);
    const lastTick = Math.ceil(hi / step - 1e-9);
    const out = [];
    for (let k = first; k <= lastTick; k++) out.push(Number((k * step).toPrecision(10)));
    return out;
  }
  function tickLabel(v) {
    const a = Math.abs(v);
    if (a >= 1e4) return Math.round(v).toLocaleString("en-US");
    return String(Number(v.toPrecision(4)));
  }
  function pathD(xs, ys, X, Y) {
    let d = "";
    let pen = false;
    for (let i = 0; i < xs.length; i++) {
      const y = ys[i];
      if (y === null || !Number.isFinite(y)) { pen = false; continue; }
      d += (pen ? "L" : "M") + X(xs[i]).toFixed(1) + "," + Y(y).toFixed(1);
      pen = true;
    }
    return d;
  }
  function sum(arrays) {
    return arrays[0].map((_, i) => arrays.reduce((a, s) => a + (s[i] || 0), 0));
  }

  function chartCard(spec) {
    let card = $("chart-" + spec.id);
    if (!card) {
      card = el("div", { class: "card chart", id: "chart-" + spec.id });
      card.innerHTML = `<h3>${esc(spec.title)} <span class="unit">(${esc(spec.unit)})</span></h3><div class="plot"></div><div class="legend"></div>`;
      $("charts").append(card);
    }
    return card;
  }

  function drawChart(spec, res) {
    const card = chartCard(spec);
    const plot = card.querySelector(".plot");
    const W = Math.max(plot.clientWidth || 430, 300);
    const H = 220;
    const m = { l: 50, r: 12, t: 8, b: 22 };
    const years = res.years;
    const data = res.charts[spec.id];
    const hist = res.history[spec.id];
    const stack = spec.kind === "stack";
    const pinned = pins.map((p) => ({ pin: p, d: p.res.charts[spec.id], years: p.res.years }));
    const tops = [];
    if (stack) {
      tops.push(sum(data.series), sum(data.baseline));
      for (const p of pinned) tops.push(sum(p.d.series));
    } else {
      tops.push(...data.series, ...data.baseline);
      for (const p of pinned) tops.push(p.d.series[0]);
      if (hist) tops.push(hist.values);
      for (const r of spec.refs || []) tops.push([r.value]);
    }
    let ymax = 0;
    for (const s of tops) for (const v of s) if (v !== null && Number.isFinite(v) && v > ymax) ymax = v;
    const yt = ticks(0, ymax > 0 ? ymax * 1.04 : 1, 5);
    const yhi = yt[yt.length - 1];
    const x0 = Math.min(years[0], hist ? hist.years[0] : years[0]);
    const x1 = years[years.length - 1];
    const X = (x) => m.l + (x - x0) / (x1 - x0) * (W - m.l - m.r);
    const Y = (y) => H - m.b - y / yhi * (H - m.t - m.b);
    const out = [`<svg width="${W}" height="${H}" role="img" aria-label="${esc(spec.title)}">`];
    out.push('<g class="grid">');
    for (const v of yt) out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}"/>`);
    out.push("</g>");
    for (const v of yt) out.push(`<text x="${m.l - 4}" y="${(Y(v) + 3).toFixed(1)}" text-anchor="end">${tickLabel(v)}</text>`);
    for (let yr = Math.ceil(x0 / 10) * 10; yr <= x1; yr += 10) {
      out.push(`<text x="${X(yr).toFixed(1)}" y="${H - 6}" text-anchor="middle">${yr}</text>`);
    }
    out.push(`<line class="axis" x1="${m.l}" x2="${W - m.r}" y1="${Y(0)}" y2="${Y(0)}"/>`);
    out.push(`<line x1="${X(2020.5).toFixed(1)}" x2="${X(2020.5).toFixed(1)}" y1="${m.t}" y2="${H - m.b}" stroke="#bbb" stroke-dasharray="2,3"/>`);
    const legend = [];
    if (stack) {
      let lower = years.map(() => 0);
      data.series.forEach((s, i) => {
        const upper = lower.map((v, k) => v + (s[k] || 0));
        const col = PALETTE[i % PALETTE.length];
        const d = pathD(years, upper, X, Y) + pathD(years.slice().reverse(), lower.slice().reverse(), X, Y).replace(/^M/, "L") + "Z";
        out.push(`<path class="cur-${i}" d="${d}" fill="${col}" fill-opacity="0.75" stroke="none"/>`);
        legend.push(`<span><span class="sw area" style="background:${col}"></span>${esc(spec.series[i].label)}</span>`);
        lower = upper;
      });
      out.push(`<path class="cur-total" d="${pathD(years, lower, X, Y)}" fill="none" stroke="#222" stroke-width="1"/>`);
      out.push(`<path class="base" d="${pathD(years, sum(data.baseline), X, Y)}" fill="none" stroke="#000" stroke-width="1.6" stroke-dasharray="5,3"/>`);
      legend.push('<span><span class="sw dash" style="border-color:#000"></span>baseline total</span>');
    } else {
      for (const r of spec.refs || []) {
        out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(r.value).toFixed(1)}" y2="${Y(r.value).toFixed(1)}" stroke="#c0392b" stroke-dasharray="6,3" stroke-width="1"/>`);
        out.push(`<text x="${W - m.r - 2}" y="${(Y(r.value) - 3).toFixed(1)}" text-anchor="end" fill="#c0392b">${esc(r.label)}</text>`);
      }
      data.baseline.forEach((s, i) => {
        const col = PALETTE[i % PALETTE.length];
        out.push(`<path class="base base-${i}" d="${pathD(years, s, X, Y)}" fill="none" stroke="${col}" stroke-width="1.3" stroke-dasharray="5,3" opacity="0.75"/>`);
      });
      data.series.forEach((s, i) => {
        const col = PALETTE[i % PALETTE.length];
        out.push(`<path class="cur-${i}" d="${pathD(years, s, X, Y)}" fill="none" stroke="${col}" stroke-width="${i === 0 ? 2.4 : 1.6}"/>`);
        legend.push(`<span><span class="sw" style="border-color:${col}"></span>${esc(spec.series[i].label)}</span>`);
      });
      legend.push('<span><span class="sw dash" style="border-color:#555"></span>baseline</span>');
      if (hist) {
        hist.years.forEach((yr, k) => {
          const v = hist.values[k];
          if (v !== null) out.push(`<circle class="hist" cx="${X(yr).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="2.4" fill="#111"/>`);
        });
        legend.push(`<span><span class="pt"></span>${esc(hist.label)}</span>`);
      }
    }
    for (const p of pinned) {
      const s = stack ? sum(p.d.series) : p.d.series[0];
      out.push(`<path class="pin" d="${pathD(p.years, s, X, Y)}" fill="none" stroke="${p.pin.color}" stroke-width="2" stroke-dasharray="1.5,2.5"/>`);
      legend.push(`<span><span class="sw dot" style="border-color:${p.pin.color}"></span>${esc(p.pin.label)}</span>`);
    }
    out.push("</svg>");
    plot.innerHTML = out.join("");
    card.querySelector(".legend").innerHTML = legend.join("");
  }

  function drawCocontrol(cc) {
    const plot = $("cocontrol");
    const W = Math.max(Math.min(plot.clientWidth || 420, 520), 300);
    const H = 300;
    const m = { l: 46, r: 12, t: 10, b: 26 };
    let ax = 0.01;
    let ay = 0.01;
    const consider = (x, y) => {
      if (x !== null && Number.isFinite(x)) ax = Math.max(ax, Math.abs(x));
      if (y !== null && Number.isFinite(y)) ay = Math.max(ay, Math.abs(y));
    };
    for (const p of cc.points) consider(p.x, p.y);
    for (const path of Object.values(cc.paths)) for (const [x, y] of path) consider(x, y);
    for (const pin of pins) for (const p of pin.res.cocontrol.points) consider(p.x, p.y);
    const xs = ticks(-ax * 1.1, ax * 1.1, 4);
    const ys = ticks(-ay * 1.1, ay * 1.1, 4);
    const xlo = xs[0], xhi = xs[xs.length - 1], ylo = ys[0], yhi = ys[ys.length - 1];
    const X = (x) => m.l + (x - xlo) / (xhi - xlo) * (W - m.l - m.r);
    const Y = (y) => H - m.b - (y - ylo) / (yhi - ylo) * (H - m.t - m.b);
    const out = [`<svg width="${W}" height="${H}" role="img" aria-label="co-control coordinates">`];
    out.push(`<rect x="${m.l}" y="${Y(0).toFixed(1)}" width="${(X(0) - m.l).toFixed(1)}" height="${(H - m.b - Y(0)).toFixed(1)}" fill="#e3f4e8"/>`);
    out.push('<g class="grid">');
    for (const v of xs) out.push(`<line x1="${X(v).toFixed(1)}" x2="${X(v).toFixed(1)}" y1="${m.t}" y2="${H - m.b}"/>`);
    for (const v of ys) out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}"/>`);
    out.push("</g>");
    out.push(`<line class="axis" x1="${m.l}" x2="${W - m.r}" y1="${Y(0).toFixed(1)}" y2="${Y(0).toFixed(1)}"/>`);
    out.push(`<line class="axis" x1="${X(0).toFixed(1)}" x2="${X(0).toFixed(1)}" y1="${m.t}" y2="${H - m.b}"/>`);
    for (const v of xs) out.push(`<text x="${X(v).toFixed(1)}" y="${H - 12}" text-anchor="middle">${(100 * v).toFixed(Math.abs(xhi) < 0.05 ? 1 : 0)}%</text>`);
    for (const v of ys) out.push(`<text x="${m.l - 4}" y="${(Y(v) + 3).toFixed(1)}" text-anchor="end">${(100 * v).toFixed(Math.abs(yhi) < 0.05 ? 1 : 0)}%</text>`);
    out.push(`<text x="${W - m.r}" y="${H - 1}" text-anchor="end">ΔP/P (pollutant) →</text>`);
    out.push(`<text x="${m.l + 4}" y="${m.t + 10}">↑ ΔC/C (CO2)</text>`);
    out.push(`<text x="${m.l + 6}" y="${H - m.b - 6}" fill="#1a7f37" font-weight="bold">III: both fall</text>`);
    out.push(`<text x="${W - m.r - 4}" y="${m.t + 10}" text-anchor="end">I: both rise</text>`);
    out.push(`<text x="${m.l + 6}" y="${m.t + 24}">II</text>`);
    out.push(`<text x="${W - m.r - 4}" y="${H - m.b - 6}" text-anchor="end">IV</text>`);
    for (const [pol, path] of Object.entries(cc.paths)) {
      const pts = path.filter(([x, y]) => x !== null && y !== null);
      if (pts.length < 2) continue;
      const d = pts.map(([x, y], i) => (i ? "L" : "M") + X(x).toFixed(1) + "," + Y(y).toFixed(1)).join("");
      out.push(`<path d="${d}" fill="none" stroke="${POLLUTANT_COLORS[pol] || "#555"}" stroke-width="1" opacity="0.45"/>`);
    }
    for (const pin of pins) {
      for (const p of pin.res.cocontrol.points) {
        if (p.x === null || p.y === null) continue;
        out.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="4" fill="none" stroke="${pin.color}" stroke-width="1.5"/>`);
      }
    }
    for (const p of cc.points) {
      if (p.x === null || p.y === null) continue;
      const col = POLLUTANT_COLORS[p.pollutant] || "#555";
      out.push(`<circle class="cc-pt" data-pollutant="${esc(p.pollutant)}" cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="5" fill="${col}" stroke="#000" stroke-width="0.6"><title>${esc(p.pollutant)}: ΔP/P ${pct(p.x)}, ΔC/C ${pct(p.y)}, ET ${fmt(p.et)}, quadrant ${esc(p.quadrant || "–")}</title></circle>`);
      out.push(`<text x="${(X(p.x) + 7).toFixed(1)}" y="${(Y(p.y) - 5).toFixed(1)}" fill="${col}">${esc(p.pollutant)}</text>`);
    }
    out.push("</svg>");
    plot.innerHTML = out.join("");
    const rows = [`<tr><th>pollutant (${cc.year})</th><th>ΔP/P</th><th>ΔC/C</th><th>ET</th><th>quadrant</th></tr>`];
    for (const p of cc.points) {
      rows.push(`<tr><td><span class="pt" style="background:${POLLUTANT_COLORS[p.pollutant] || "#555"}"></span>${esc(p.pollutant)}</td><td class="n">${pct(p.x, 2)}</td><td class="n">${pct(p.y, 2)}</td><td class="n">${fmt(p.et)}</td><td>${esc(p.quadrant || "–")} ${p.quadrant ? "<span class='muted'>" + esc(QUADRANTS[p.quadrant] || "") + "</span>" : ""}</td></tr>`);
    }
    $("cc-table").innerHTML = rows.join("");
  }

  function drawIndicators(res) {
    const byName = Object.fromEntries(res.indicators.map((i) => [i.name, i]));
    const head = ["indicator", "unit", "this setting", "baseline", "vs baseline", ...pins.map((p) => p.label)];
    const rows = [`<tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>`];
    for (const name of state.meta.table_indicators) {
      const i = byName[name];
      if (!i) continue;
      let change = "–";
      let cls = "";
      if (i.value !== null && i.baseline !== null) {
        if (i.unit === "year") {
          const d = i.value - i.baseline;
          change = (d >= 0 ? "+" : "") + d.toFixed(0) + " yr";
        } else if (i.baseline !== 0) {
          const d = i.value / i.baseline - 1;
          change = pct(d);
          cls = Math.abs(d) < 5e-4 ? "" : (d < 0 ? "better" : "worse");
          if (name.startsWith("population")) cls = "";
        }
      }
      const pinCells = pins.map((p) => {
        const q = p.res.indicators.find((x) => x.name === name);
        return `<td class="n">${q ? fmt(q.value, q.unit) : "–"}</td>`;
      });
      rows.push(`<tr data-indicator="${esc(name)}"><td>${esc(name)}</td><td>${esc(i.unit)}</td><td class="n cur">${fmt(i.value, i.unit)}</td><td class="n">${fmt(i.baseline, i.unit)}</td><td class="n ${cls}">${change}</td>${pinCells.join("")}</tr>`);
    }
    $("indicators").innerHTML = rows.join("");
  }

  function drawTargets(targets, plan) {
    const t = $("targets");
    const rows = [`<tr><th colspan="4" class="muted">${esc(plan || "")}</th></tr>`,
      "<tr><th>target</th><th>condition</th><th>baseline</th><th>this setting</th></tr>"];
    for (const r of targets) {
      const cell = (v, b, s) => `<td class="n">${fmt(v)}${r.relative && b !== null ? ` (bound ${fmt(b)})` : ""} <span class="${{ met: "met", missed: "missed" }[s] || "nc"}">${esc(s)}</span></td>`;
      const title = [r.note, "source: " + r.source].filter(Boolean).join("\n");
      const reads = r.reads ? `${esc(r.reads)}` : `<span class="muted">${esc(r.note)}</span>`;
      rows.push(`<tr title="${esc(title)}"><td>${esc(r.name)}</td><td>${reads}</td>${cell(r.baseline, r.baseline_bound, r.baseline_status)}${cell(r.model, r.bound, r.status)}</tr>`);
    }
    t.innerHTML = rows.join("");
  }

  function render(res) {
    for (const spec of state.meta.charts) drawChart(spec, res);
    drawCocontrol(res.cocontrol);
    drawIndicators(res);
    drawTargets(res.targets, res.plan);
    stats.renders++;
  }

  // ------------------------------------------------------------------ presets, upload, pins, exports
  function applyPreset(info) {
    const cityChanged = !state.presetInfo || state.presetInfo.city !== info.city;
    state.presetInfo = info;
    state.preset = info.preset;
    state.values = { ...info.values };
    state.extra = { ...info.extra };
    if (cityChanged) buildUncertainty(info.uncertainty);
    syncAll();
    updateTitles();
    const desc = $("preset-desc");
    desc.textContent = (info.uploaded ? `file ${info.uploaded}: ` : "") + `${info.title}. ${info.description || ""}` +
      (info.warning ? ` (${info.warning})` : "");
    schedule();
  }

  async function loadPreset(name) {
    try {
      applyPreset(await apiJSON("/api/preset", { city: state.city, preset: name }));
      state.uploaded = null;
      clearError();
    } catch (e) { showError(e.message); }
  }

  function setUploadOption(label) {
    const sel = $("preset");
    let opt = sel.querySelector("option[data-upload]");
    if (!opt) { opt = el("option", { "data-upload": "1", value: "__upload__" }); sel.append(opt); }
    opt.textContent = "file: " + label;
    sel.value = "__upload__";
  }

  async function upload(text, filename) {
    const info = await apiJSON("/api/upload", { city: state.city, text, filename });
    state.uploaded = info.uploaded;
    state.uploadText = text;
    applyPreset(info);
    setUploadOption(info.uploaded + " (" + info.name + ")");
    clearError();
  }

  function exportSources() {
    if (!state.uploaded) return {};
    const out = {};
    for (const [k, v] of Object.entries(state.presetInfo.sources)) {
      if (k in state.values && state.values[k] === state.presetInfo.values[k]) out[k] = v;
      else if (k in state.extra) out[k] = v;
    }
    return out;
  }

  async function exportFile(kind, button) {
    const body = { city: state.city, preset: state.preset, constants: currentConstants(), year: state.year,
                   name: $("export-name").value.trim() || "my_setting", sources: exportSources() };
    const label = button.textContent;
    button.disabled = true;
    button.textContent = label + "…";
    try {
      const r = await api("/api/export/" + kind, body);
      const blob = await r.blob();
      const cd = r.headers.get("Content-Disposition") || "";
      const name = (cd.match(/filename="([^"]+)"/) || [null, "export." + kind])[1];
      const a = el("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 2000);
      $("status").textContent = `exported ${name}`;
      clearError();
    } catch (e) {
      showError(e.message);
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  function pinLabel() {
    const n = state.presetInfo ? Object.keys(state.values).filter((k) => state.values[k] !== state.presetInfo.values[k]).length : 0;
    const base = state.uploaded ? state.presetInfo.name : state.preset;
    return `pin ${pins.length + 1}: ${base}${n ? ` +${n} change(s)` : ""}`;
  }

  // ------------------------------------------------------------------ start
  async function start() {
    try {
      state.meta = await apiJSON("/api/meta");
    } catch (e) { showError(e.message); return; }
    const citySel = $("city");
    for (const c of state.meta.cities) citySel.append(el("option", { value: c.name }, c.title));
    const wanted = new URLSearchParams(location.search).get("city");
    state.city = state.meta.cities.some((c) => c.name === wanted) ? wanted : state.meta.default_city;
    citySel.value = state.city;
    const presetSel = $("preset");
    for (const p of state.meta.presets) presetSel.append(el("option", { value: p.name, title: p.description }, `${p.name}: ${p.title}`));
    presetSel.value = "baseline";
    const ccYear = $("cc-year");
    for (let y = 2025; y <= state.meta.last_year; y++) ccYear.append(el("option", { value: y }, y));
    ccYear.value = String(state.year);
    buildLevers();

    citySel.addEventListener("change", async () => {
      state.city = citySel.value;
      pins.length = 0;
      if (state.uploaded && state.uploadText !== null) {
        try { await upload(state.uploadText, state.uploaded); } catch (e) { showError(e.message); }
      } else {
        await loadPreset(state.preset);
      }
    });
    presetSel.addEventListener("change", () => {
      if (presetSel.value === "__upload__") return;
      const up = presetSel.querySelector("option[data-upload]");
      if (up) up.remove();
      state.uploaded = null;
      loadPreset(presetSel.value);
    });
    $("reset").addEventListener("click", () => { if (state.presetInfo) applyPreset(state.presetInfo); });
    $("upload").addEventListener("change", async (ev) => {
      const file = ev.target.files[0];
      ev.target.value = "";
      if (!file) return;
      if (file.size > state.meta.limits.max_upload_body) {
        showError(`file ${file.name}: ${file.size} bytes; allowed: at most ${state.meta.limits.max_upload_body} bytes`);
        return;
      }
      try { await upload(await file.text(), file.name); } catch (e) { showError(e.message); }
    });
    $("pin").addEventListener("click", () => {
      if (!last) return;
      pins.push({ label: pinLabel(), res: last, color: PIN_COLORS[pins.length % PIN_COLORS.length] });
      if (pins.length > 4) pins.shift();
      render(last);
    });
    $("clear-pins").addEventListener("click", () => { pins.length = 0; if (last) render(last); });
    ccYear.addEventListener("change", () => { state.year = parseInt(ccYear.value, 10); schedule(); });
    $("export-yaml").addEventListener("click", (ev) => exportFile("yaml", ev.currentTarget));
    $("export-csv").addEventListener("click", (ev) => exportFile("csv", ev.currentTarget));
    $("export-report").addEventListener("click", (ev) => exportFile("report", ev.currentTarget));
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => { if (last) render(last); }, 150);
    });
    await loadPreset("baseline");
  }

  start();
})();
