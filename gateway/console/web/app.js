// The fixgw console: polls the gateway's admin API and draws the scorecard, trends,
// routing decisions, sessions and orders; edits profile weights (preview, then apply).
// Plain browser JavaScript, no build step; charts by Chart.js when the gateway serves it.
"use strict";

const POLL_MS = 2000;
const HISTORY_MS = 5000;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

// KPI columns of the scorecard table: API name, header, scale, decimals
const KPI_COLUMNS = [
  ["price_improvement", "PI (bps)", 1, 2],
  ["effective_spread", "eff. spread (bps)", 1, 2],
  ["market_impact", "impact (bps)", 1, 2],
  ["fill_rate", "fill rate (%)", 100, 1],
  ["rejection_rate", "reject rate (%)", 100, 1],
  ["ack_latency", "ack (ms)", 1, 2],
  ["fill_latency", "fill lat. (ms)", 1, 2],
];
const TREND_KPIS = {
  price_improvement: ["price improvement (bps)", 1],
  effective_spread: ["effective spread (bps)", 1],
  market_impact: ["market impact (bps)", 1],
  realized_spread: ["realized spread (bps)", 1],
  fill_rate: ["fill rate (%)", 100],
  rejection_rate: ["rejection rate (%)", 100],
  ack_latency: ["ack latency (ms)", 1],
  fill_latency: ["fill latency (ms)", 1],
};

const state = {
  scorecard: null,
  profiles: null,
  history: [],
  historySince: null,
  lpColors: {},
  editor: { profile: null, rows: [] },
  previewed: null,
  refreshes: 0,
};
const charts = { score: null, kpi: null };

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "text") node.textContent = v;
    else node[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function fmt(v, dp) {
  return v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(dp);
}

function time(t) {
  return t ? new Date(t * 1000).toLocaleTimeString([], { hour12: false }) : "–";
}

function token() {
  return sessionStorage.getItem("fixgw-token") || "";
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const init = { method: options.method || "GET", headers };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    data = null;
  }
  if (!resp.ok) {
    const err = new Error((data && data.error) || resp.status + " " + resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function show(node, text) {
  node.textContent = text || "";
  node.hidden = !text;
}

function lpColor(lp) {
  if (!(lp in state.lpColors)) {
    state.lpColors[lp] = COLORS[Object.keys(state.lpColors).length % COLORS.length];
  }
  return state.lpColors[lp];
}

// --- scorecard --------------------------------------------------------------------------
function rankProfile() {
  const sc = state.scorecard;
  const chosen = $("#rank-profile").value;
  return sc && chosen in sc.profiles ? chosen : sc ? sc.default_profile : null;
}

function fillSelect(select, values, keep) {
  const current = select.value;
  const same = select.options.length === values.length &&
    values.every(([v], i) => select.options[i].value === v);
  if (!same) {
    select.replaceChildren(...values.map(([v, label]) => el("option", { value: v, text: label })));
  }
  if (keep && values.some(([v]) => v === current)) select.value = current;
}

function renderScorecard() {
  const sc = state.scorecard;
  if (!sc) return;
  const profiles = Object.keys(sc.profiles);
  fillSelect($("#rank-profile"), profiles.map((p) => [p, p]), true);
  if (!$("#rank-profile").dataset.init) {
    $("#rank-profile").value = sc.default_profile;
    $("#rank-profile").dataset.init = "1";
  }
  fillSelect($("#symbol-select"), [["", "all symbols"], ...sc.symbols.map((s) => [s, s])], true);
  const by = rankProfile();
  const head = [el("th", { text: "rank" }), el("th", { text: "LP" }), el("th", { text: "status" })];
  for (const p of profiles) {
    head.push(el("th", { class: p === by ? "num ranked" : "num", text: "score " + p }));
  }
  for (const [, label] of KPI_COLUMNS) head.push(el("th", { class: "num", text: label }));
  head.push(el("th", { class: "num", text: "obs." }), el("th", { text: "routing" }));
  $("#scorecard-head").replaceChildren(...head);

  const rows = [...sc.lps].sort((a, b) => a.ranks[by] - b.ranks[by]);
  const body = rows.map((r) => {
    const status = !r.logged_on ? "logged off" : r.killed ? "killed" : !r.enabled ? "disabled" : "up";
    const cells = [
      el("td", { "data-col": "rank", class: "num", text: r.ranks[by] }),
      el("td", { "data-col": "lp", class: "lp" }, el("span", { class: "swatch", style: "background:" + lpColor(r.lp) }), r.lp),
      el("td", { "data-col": "status", class: "status " + status.replace(" ", "-"), text: status }),
    ];
    for (const p of profiles) {
      cells.push(el("td", {
        "data-col": "score-" + p, "data-value": r.scores[p], class: p === by ? "num ranked" : "num",
        text: fmt(r.scores[p], 1),
      }));
    }
    for (const [kpi, , scale, dp] of KPI_COLUMNS) {
      const v = r.kpis[kpi];
      cells.push(el("td", { "data-col": kpi, "data-value": v, class: "num", text: fmt(v * scale, dp) }));
    }
    cells.push(el("td", { "data-col": "observations", class: "num", text: fmt(r.observations, 1) }));
    const btn = el("button", {
      type: "button", class: "lp-toggle", "data-lp": r.lp, text: r.enabled ? "disable" : "enable",
    });
    btn.addEventListener("click", () => toggleLp(r.lp, !r.enabled));
    cells.push(el("td", {}, btn));
    return el("tr", { "data-lp": r.lp }, ...cells);
  });
  $("#scorecard tbody").replaceChildren(...body);
}

async function toggleLp(lp, enabled) {
  try {
    await api("/api/lps/" + encodeURIComponent(lp), { method: "PUT", body: { enabled } });
    banner("");
    await refresh();
  } catch (e) {
    banner(`${enabled ? "enable" : "disable"} ${lp}: ${e.message}`);
  }
}

function banner(text) {
  show($("#banner"), text);
}

// --- trends ---------------------------------------------------------------------------------
function makeChart(canvas, yTitle) {
  return new window.Chart(canvas, {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: false },
      elements: { point: { radius: 0 }, line: { borderWidth: 2, tension: 0 } },
      scales: {
        x: { type: "linear", ticks: { maxTicksLimit: 8, callback: (v) => time(v) } },
        y: { title: { display: true, text: yTitle } },
      },
      plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { title: (items) => time(items[0].parsed.x) } } },
    },
  });
}

function renderCharts() {
  if (!window.Chart) {
    $("#chart-missing").hidden = false;
    return;
  }
  const profile = rankProfile();
  const kpi = $("#kpi-select").value || "fill_rate";
  const [kpiLabel, scale] = TREND_KPIS[kpi];
  const range = Number($("#range-select").value);
  const points = state.history;
  const since = (points.length ? points[points.length - 1].t : 0) - range;
  const shown = points.filter((p) => p.t >= since);
  const lps = state.scorecard ? state.scorecard.lps.map((r) => r.lp) : [];
  if (!charts.score) charts.score = makeChart($("#score-chart"), "score (0–100)");
  if (!charts.kpi) charts.kpi = makeChart($("#kpi-chart"), kpiLabel);
  $("#score-chart-title").textContent = `Composite score — ${profile}`;
  $("#kpi-chart-title").textContent = kpiLabel;
  charts.kpi.options.scales.y.title.text = kpiLabel;
  const dataset = (lp, pick) => ({
    label: lp,
    borderColor: lpColor(lp),
    backgroundColor: lpColor(lp),
    data: shown.filter((p) => p.lps[lp]).map((p) => ({ x: p.t, y: pick(p.lps[lp]) })),
  });
  charts.score.data.datasets = lps.map((lp) => dataset(lp, (r) => r.scores[profile]));
  charts.kpi.data.datasets = lps.map((lp) => dataset(lp, (r) => r.kpis[kpi] * scale));
  charts.score.update("none");
  charts.kpi.update("none");
}

async function refreshHistory() {
  const q = state.historySince === null ? "" : "?since=" + state.historySince;
  const data = await api("/api/scorecard/history" + q);
  if (data.points.length) {
    state.history.push(...data.points);
    state.historySince = data.points[data.points.length - 1].t;
    const keep = 10800 / data.interval + 10;
    if (state.history.length > keep) state.history.splice(0, state.history.length - keep);
  }
  renderCharts();
}

// --- weights editor ------------------------------------------------------------------------
function editorWeights() {
  const out = {};
  for (const row of state.editor.rows) out[row.kpi] = row.value.trim() === "" ? NaN : Number(row.value);
  return out;
}

function editorKey() {
  return JSON.stringify([state.editor.profile, state.editor.rows.map((r) => [r.kpi, r.value])]);
}

function loadEditor(profile) {
  const weights = (state.profiles && state.profiles.profiles[profile]) || {};
  state.editor = { profile, rows: Object.entries(weights).map(([kpi, w]) => ({ kpi, value: String(w) })) };
  state.previewed = null;
  renderEditor();
  show($("#weights-error"), "");
  $("#preview-table").hidden = true;
  state.editorLoads = (state.editorLoads || 0) + 1;
  document.body.dataset.editorLoads = String(state.editorLoads);
}

function renderEditor() {
  const rows = state.editor.rows.map((row, i) => {
    const input = el("input", { type: "text", inputMode: "decimal", value: row.value, "data-kpi": row.kpi, class: "weight" });
    input.addEventListener("input", () => {
      row.value = input.value;
      editorChanged();
    });
    const remove = el("button", { type: "button", class: "remove", title: "remove", text: "×" });
    remove.addEventListener("click", () => {
      state.editor.rows.splice(i, 1);
      renderEditor();
      editorChanged();
    });
    return el("tr", { "data-kpi": row.kpi }, el("td", { text: row.kpi }), el("td", {}, input), el("td", {}, remove));
  });
  $("#weights tbody").replaceChildren(...rows);
  const used = new Set(state.editor.rows.map((r) => r.kpi));
  const kpis = (state.profiles ? state.profiles.kpis : []).filter((k) => !used.has(k));
  fillSelect($("#add-kpi"), kpis.map((k) => [k, k]), true);
  updateSum();
}

function updateSum() {
  const values = Object.values(editorWeights());
  const sum = values.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const node = $("#weights-sum");
  node.textContent = "sum " + fmt(sum, 4);
  node.classList.toggle("bad", Math.abs(sum - 1) > 1e-6);
}

function editorChanged() {
  updateSum();
  $("#apply-btn").disabled = state.previewed !== editorKey();
  show($("#weights-ok"), "");
}

function localProblem(weights) {
  for (const [kpi, w] of Object.entries(weights)) {
    if (!Number.isFinite(w)) return `weight of ${kpi} is not a number`;
  }
  if (!Object.keys(weights).length) return "no weights";
  return null;
}

async function previewWeights() {
  const profile = state.editor.profile;
  const weights = editorWeights();
  const key = editorKey();
  state.previewed = null;
  $("#apply-btn").disabled = true;
  show($("#weights-ok"), "");
  const problem = localProblem(weights);
  if (problem) {
    show($("#weights-error"), problem);
    $("#preview-table").hidden = true;
    return;
  }
  try {
    const symbol = $("#symbol-select").value || null;
    const res = await api(`/api/profiles/${encodeURIComponent(profile)}/preview`, {
      method: "POST", body: { weights, symbol },
    });
    show($("#weights-error"), "");
    renderPreview(res);
    state.previewed = key;
    $("#apply-btn").disabled = false;
  } catch (e) {
    show($("#weights-error"), e.message);
    $("#preview-table").hidden = true;
  }
}

function renderPreview(res) {
  const now = Object.fromEntries(res.current.ranking.map((r) => [r.lp, r]));
  const rows = res.preview.ranking.map((r) => {
    const before = now[r.lp];
    const move = before.rank - r.rank;
    const arrow = move > 0 ? `▲${move}` : move < 0 ? `▼${-move}` : "=";
    return el("tr", { "data-lp": r.lp },
      el("td", { text: r.lp }),
      el("td", { "data-col": "rank-now", class: "num", text: before.rank }),
      el("td", { class: "num", text: fmt(before.score, 1) }),
      el("td", { "data-col": "rank-preview", class: "num", text: r.rank }),
      el("td", { class: "num", text: fmt(r.score, 1) }),
      el("td", { class: move > 0 ? "up" : move < 0 ? "down" : "", text: arrow }));
  });
  $("#preview-table tbody").replaceChildren(...rows);
  $("#preview-table").hidden = false;
}

async function applyWeights() {
  const profile = state.editor.profile;
  const weights = editorWeights();
  if (state.previewed !== editorKey()) return;
  try {
    const res = await api(`/api/profiles/${encodeURIComponent(profile)}`, { method: "PUT", body: { weights } });
    show($("#weights-error"), "");
    const top = res.ranking.length ? res.ranking[0].lp : "–";
    show($("#weights-ok"), `Applied to ${profile}: the router uses the new weights now (top: ${top}).`);
    state.previewed = null;
    $("#apply-btn").disabled = true;
    $("#rank-profile").value = profile;
    await refreshProfiles();
    loadEditor(profile);
    show($("#weights-ok"), `Applied to ${profile}: the router uses the new weights now (top: ${top}).`);
    await refresh();
  } catch (e) {
    show($("#weights-error"), e.message);
  }
}

async function refreshProfiles() {
  state.profiles = await api("/api/profiles");
  const names = Object.keys(state.profiles.profiles);
  fillSelect($("#profile-select"), names.map((p) => [p, p]), true);
  fillSelect($("#kpi-select"), Object.entries(TREND_KPIS).map(([k, [label]]) => [k, label]), true);
  if (!state.editor.profile) {
    $("#profile-select").value = state.profiles.default_profile;
    loadEditor(state.profiles.default_profile);
  }
}

// --- the rest --------------------------------------------------------------------------------
function renderStatus(st) {
  const s = st.stats;
  const cost = s.cost_vs_arrival_bps === null ? "n/a" : fmt(s.cost_vs_arrival_bps, 2) + " bps";
  $("#summary").textContent =
    `router ${st.router} · orders ${s.parents} (open ${s.open}, filled ${s.filled}, ` +
    `rejected ${s.rejected}) · children ${s.children} · avg px vs arrival ${cost}`;
  const kills = Object.entries(st.kill_switches);
  const node = $("#kill-state");
  node.className = "kill " + (kills.length ? "on" : "off");
  node.textContent = kills.length ? "KILL SWITCH: " + kills.map(([k, r]) => `${k} (${r})`).join(", ") : "kill switch: off";
}

function renderSessions(list) {
  $("#sessions tbody").replaceChildren(...list.map((s) => el("tr", { "data-session": s.name },
    el("td", { text: s.name }),
    el("td", { text: s.role }),
    el("td", { class: s.logged_on ? "status up" : "status logged-off", text: s.state.replace("_", " ") }),
    el("td", { class: "num", text: s.next_sender_seq - 1 }),
    el("td", { class: "num", text: s.next_target_seq - 1 }),
    el("td", { class: "num", text: s.logons }))));
}

function renderDecisions(list) {
  $("#decisions tbody").replaceChildren(...list.map((d) => {
    const chosen = new Set(d.children.map((c) => c.lp));
    const cands = el("td", { class: "cands" }, ...d.candidates.map((c) => el("span", {
      class: "cand" + (chosen.has(c.lp) ? " chosen" : c.eligible ? "" : " ineligible"),
      title: c.why,
      text: `${c.lp} ${c.score === null ? "" : fmt(c.score, 1)} ${c.why}`,
    })));
    const kids = d.children.map((c) => `${c.lp} ${c.qty}${c.price === null ? "" : " @ " + c.price}`).join(", ");
    return el("tr", { "data-order": d.order_id },
      el("td", { text: time(d.time) }), el("td", { text: d.order_id }), el("td", { text: d.symbol }),
      el("td", { text: d.profile }), el("td", { class: "num", text: d.attempt }),
      el("td", { class: "num", text: d.available_qty }), cands, el("td", { text: kids || "none" }));
  }));
}

function renderOrders(data) {
  $("#open-count").textContent = `(${data.open_count} open)`;
  $("#orders tbody").replaceChildren(...data.recent.map((p) => el("tr", { "data-clordid": p.cl_ord_id },
    el("td", { text: time(p.created) }), el("td", { text: p.cl_ord_id }), el("td", { text: p.symbol }),
    el("td", { text: p.side }), el("td", { class: "num", text: p.qty }),
    el("td", { class: "num", text: p.price === null ? "MKT" : p.price }),
    el("td", { class: "state " + p.state, text: p.state.replace(/_/g, " ") }),
    el("td", { class: "num", text: p.cum_qty }), el("td", { class: "num", text: fmt(p.avg_px, 4) }),
    el("td", { text: p.profile || "default" }),
    el("td", { class: "kids" }, ...p.children.map((c) => el("div", {
      text: `${c.lp} ${c.qty} ${c.state.replace(/_/g, " ")} ${c.cum_qty}${c.text ? " — " + c.text : ""}`,
    }))))));
}

function renderAudit(list) {
  const j = (v) => JSON.stringify(v);
  $("#audit tbody").replaceChildren(...list.slice(0, 10).map((a) => el("tr", {},
    el("td", { text: a.time.replace("T", " ").slice(0, 19) }),
    el("td", { text: `${a.who.token || "-"} ${a.who.remote || ""}` }),
    el("td", { text: a.action }), el("td", { text: a.target }),
    el("td", { class: "json", text: j(a.before) }), el("td", { class: "json", text: j(a.after) }))));
}

async function kill(engaged) {
  const reason = $("#kill-reason").value;
  try {
    await api("/api/kill", { method: "POST", body: { engaged, reason, scope: "all" } });
    show($("#kill-error"), "");
    await refresh();
  } catch (e) {
    show($("#kill-error"), e.message);
  }
}

async function checkToken() {
  try {
    const me = await api("/api/whoami");
    $("#token-state").textContent = !me.changes_enabled
      ? `changes disabled (${me.token_env} not set)`
      : me.token_valid ? "token OK" : token() ? "wrong token" : "read-only";
  } catch (e) {
    $("#token-state").textContent = e.message;
  }
}

async function refresh() {
  const symbol = $("#symbol-select").value;
  try {
    const [st, sc, decisions, sessions, orders, audit] = await Promise.all([
      api("/api/status"),
      api("/api/scorecard" + (symbol ? "?symbol=" + encodeURIComponent(symbol) : "")),
      api("/api/decisions?limit=15"),
      api("/api/sessions"),
      api("/api/orders?limit=15"),
      api("/api/audit?limit=10"),
    ]);
    state.scorecard = sc;
    renderStatus(st);
    renderScorecard();
    renderDecisions(decisions);
    renderSessions(sessions);
    renderOrders(orders);
    renderAudit(audit);
    $("#updated").textContent = "updated " + time(sc.time);
    if (!$("#banner").dataset.sticky) banner("");
    state.refreshes += 1;
    document.body.dataset.refreshes = String(state.refreshes);
    document.body.dataset.scorecardTime = String(sc.time);
  } catch (e) {
    banner("cannot read the gateway: " + e.message);
  }
}

function schedule(fn, ms) {
  const tick = async () => {
    if ($("#live").checked) {
      try {
        await fn();
      } catch (e) {
        banner(e.message);
      }
    }
    setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}

async function main() {
  $("#token").value = token();
  $("#token-form").addEventListener("submit", (e) => e.preventDefault());
  $("#token").addEventListener("change", () => {
    sessionStorage.setItem("fixgw-token", $("#token").value.trim());
    checkToken();
    refresh();
  });
  // the editor starts from the gateway's weights of the moment (someone else may have changed them)
  const reload = async (profile) => {
    try {
      await refreshProfiles();
    } catch (e) {
      banner("cannot read the profiles: " + e.message);
    }
    loadEditor(profile || $("#profile-select").value);
  };
  $("#profile-select").addEventListener("change", () => reload(null));  // the latest choice wins
  $("#rank-profile").addEventListener("change", () => { renderScorecard(); renderCharts(); });
  $("#symbol-select").addEventListener("change", refresh);
  $("#range-select").addEventListener("change", renderCharts);
  $("#kpi-select").addEventListener("change", renderCharts);
  $("#preview-btn").addEventListener("click", previewWeights);
  $("#apply-btn").addEventListener("click", applyWeights);
  $("#reset-btn").addEventListener("click", () => reload(state.editor.profile));
  $("#normalize-btn").addEventListener("click", () => {
    const w = editorWeights();
    const sum = Object.values(w).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    if (sum > 0) {
      for (const row of state.editor.rows) {
        const v = Number(row.value);
        if (Number.isFinite(v)) row.value = String(Math.round((v / sum) * 1e6) / 1e6);
      }
      renderEditor();
      editorChanged();
    }
  });
  $("#add-kpi-btn").addEventListener("click", () => {
    const kpi = $("#add-kpi").value;
    if (!kpi) return;
    state.editor.rows.push({ kpi, value: "0" });
    renderEditor();
    editorChanged();
  });
  $("#kill-engage").addEventListener("click", () => kill(true));
  $("#kill-release").addEventListener("click", () => kill(false));
  try {
    await refreshProfiles();
  } catch (e) {
    banner("cannot read the profiles: " + e.message);
  }
  await checkToken();
  await refresh();
  try {
    await refreshHistory();
  } catch (e) {
    banner("cannot read the scorecard history: " + e.message);
  }
  document.body.dataset.ready = "1";
  schedule(refresh, POLL_MS);
  schedule(refreshHistory, HISTORY_MS);
}

document.addEventListener("DOMContentLoaded", main);
