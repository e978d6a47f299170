// The node's dashboard: polls the node's own API (the same routes and
// token as any client: the page's cookie, set by /?token=) and draws what
// it answers. No build step; uPlot draws the charts.
"use strict";

const params = new URLSearchParams(location.search);
const every = Math.max(200, Number(params.get("every")) || 1000); // ms between polls
const keep = 300; // points kept per query (5 minutes at 1 s)

const series = new Map(); // query id → {t: [], p50: [], p99: []}
const opsBefore = new Map(); // query id → {at, ops: {step: busy µs}}
let selected = params.get("query") || "";
let chart = null;
let chartFor = "";
let clustered = null; // whether the node is in a cluster (GET /v1/node), once known

const $ = (sel) => document.querySelector(sel);

async function api(path) {
  return (await apiWithTotal(path)).body;
}

// apiWithTotal also returns X-Total-Count: how many queries a page of
// /v1/queries was taken from.
async function apiWithTotal(path) {
  const r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(body.error || r.status + " " + r.statusText);
    err.status = r.status;
    throw err;
  }
  return { body, total: Number(r.headers.get("X-Total-Count") || 0) };
}

// pageSize is how many queries the table shows: the first by id; a node
// with more says how many.
const pageSize = 500;

const ms = (v, n) => (n ? v.toFixed(v < 10 ? 2 : 1) + " ms" : "–");
const pct = (v, n) => (n ? (100 * v).toFixed(1) + " %" : "–");
const num = (v) => (v >= 1e6 ? (v / 1e6).toFixed(2) + " M" : v >= 1e4 ? (v / 1e3).toFixed(1) + " k" : String(Math.round(v)));

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function drawQueries(qs) {
  const tbody = $("#queries tbody");
  tbody.textContent = "";
  const now = Date.now() / 1000;
  for (const q of qs) {
    const r = q.recent || { results: 0, p50_ms: 0, p99_ms: 0, met_ratio: 0 };
    const miss = r.results > 0 && r.met_ratio < 0.99;
    const tr = document.createElement("tr");
    tr.dataset.id = q.id;
    if (q.id === selected) tr.className = "selected";
    cell(tr, miss ? "!" : "", miss ? "miss" : "");
    cell(tr, q.id);
    cell(tr, q.name);
    cell(tr, q.tenant);
    cell(tr, q.state + (q.error ? ": " + q.error : ""), q.error ? "error" : "");
    cell(tr, q.latency_target_ms + " ms");
    cell(tr, ms(r.p50_ms, r.results)).dataset.field = "p50";
    cell(tr, ms(r.p99_ms, r.results), miss ? "miss" : "").dataset.field = "p99";
    cell(tr, pct(r.met_ratio, r.results), miss ? "miss" : "").dataset.field = "met";
    cell(tr, num(q.events_per_s)).dataset.field = "eps";
    cell(tr, String(q.results)).dataset.field = "results";
    cell(tr, String(q.late || 0));
    cell(tr, String(q.dropped || 0));
    cell(tr, String(q.shed || 0));
    tr.addEventListener("click", () => select(q.id));
    tbody.appendChild(tr);

    let s = series.get(q.id);
    if (!s) series.set(q.id, (s = { t: [], p50: [], p99: [], target: q.latency_target_ms }));
    s.t.push(now);
    s.p50.push(r.results ? r.p50_ms : null);
    s.p99.push(r.results ? r.p99_ms : null);
    if (s.t.length > keep) for (const k of ["t", "p50", "p99"]) s[k].shift();
  }
  if (!selected && qs.length) select(qs[0].id);
}

function select(id) {
  selected = id;
  for (const tr of document.querySelectorAll("#queries tbody tr")) tr.classList.toggle("selected", tr.dataset.id === id);
  refreshDetail();
}

function drawChart() {
  const s = series.get(selected);
  const box = $("#chart");
  if (!s) return;
  const target = s.t.map(() => s.target);
  const data = [s.t, s.p50, s.p99, target];
  if (!chart || chartFor !== selected) {
    if (chart) chart.destroy();
    box.textContent = "";
    chart = new uPlot({
      width: Math.min(900, box.clientWidth || 900), height: 260,
      // x: the window the chart keeps, ending at the last poll (one
      // point alone would otherwise stretch the axis over years); y: log.
      scales: { x: { time: true, range: (u, min, max) => [max - (keep * every) / 1000, max] }, y: { distr: 3 } },
      axes: [{}, { label: "latency (ms, log)", values: (u, vals) => vals.map((v) => (v == null ? "" : String(v))) }],
      series: [{}, { label: "p50 10 s", stroke: "#2563eb", spanGaps: false }, { label: "p99 10 s", stroke: "#dc2626", spanGaps: false },
        { label: "target", stroke: "#555", dash: [6, 4] }],
    }, data, box);
    chartFor = selected;
  } else {
    chart.setData(data);
  }
}

// busyColour is green at 0 of a worker busy, red at 1 or more.
function busyColour(b) {
  const x = Math.max(0, Math.min(1, b));
  return `hsl(${Math.round(120 * (1 - x))}, 70%, 80%)`;
}

async function refreshDetail() {
  if (!selected) return;
  $("#detail").hidden = false;
  $("#detail-id").textContent = selected;
  drawChart();
  let d;
  try {
    d = await api("/v1/queries/" + encodeURIComponent(selected));
  } catch (e) {
    $("#detail-error").textContent = e.message;
    return;
  }
  $("#detail-error").textContent = d.error || "";
  $("#detail-name").textContent = `${d.stats.name} (tenant ${d.stats.tenant}), ${d.state}`;
  const now = Date.now();
  const before = opsBefore.get(selected);
  const busyNow = {};
  const graph = $("#graph");
  graph.textContent = "";
  (d.stats.operators || []).forEach((o, i) => {
    busyNow[o.step] = o.messages * o.cost_mean_us;
    let busy = 0;
    if (before && before.ops[o.step] !== undefined && now > before.at) {
      busy = Math.max(0, busyNow[o.step] - before.ops[o.step]) / ((now - before.at) * 1000) / Math.max(1, o.instances);
    }
    if (i > 0) {
      const a = document.createElement("span");
      a.className = "arrow";
      a.textContent = "→";
      graph.appendChild(a);
    }
    const box = document.createElement("div");
    box.className = "op";
    box.dataset.step = o.step;
    box.style.background = busyColour(busy);
    box.innerHTML = `<b></b><span></span><div class="queue"></div>`;
    box.querySelector("b").textContent = o.step;
    box.querySelector("span").textContent =
      `${o.instances} instance${o.instances === 1 ? "" : "s"}${o.nodes && o.nodes.length ? " on " + [...new Set(o.nodes)].join(", ") : ""} · busy ${(100 * busy).toFixed(1)} % · queueing ${o.queueing_mean_us.toFixed(0)} µs (max ${o.queueing_max_us.toFixed(0)})`;
    box.querySelector(".queue").style.width = Math.min(100, 10 * Math.log10(1 + o.queueing_mean_us)) + "%";
    graph.appendChild(box);
  });
  // The sample busy time is measured against: kept for at least a poll's
  // interval, so that two refreshes close together (a click, then the
  // poll) do not measure over a few milliseconds.
  if (!before || now - before.at >= every) opsBefore.set(selected, { at: now, ops: busyNow });
}

function drawTenants(ts) {
  const tbody = $("#tenants tbody");
  tbody.textContent = "";
  const weights = ts.reduce((a, t) => a + (t.weight || 1), 0);
  for (const t of ts) {
    const tr = document.createElement("tr");
    tr.dataset.tenant = t.tenant;
    cell(tr, t.tenant);
    cell(tr, String(t.queries));
    cell(tr, String(t.weight || 1));
    cell(tr, pct(t.share_used, 1));
    const bars = cell(tr, "");
    const used = document.createElement("span");
    used.className = "bar";
    used.style.width = Math.round(120 * Math.min(1, t.share_used)) + "px";
    const fair = document.createElement("span");
    fair.className = "bar weight";
    fair.style.width = Math.round(120 * (t.weight || 1) / weights) + "px";
    fair.title = "the weight's share";
    bars.append(used, document.createElement("br"), fair);
    cell(tr, ms(t.p99_ms, t.results));
    cell(tr, pct(t.met_ratio, t.results));
    tbody.appendChild(tr);
  }
}

function drawCluster(c) {
  $("#cluster").hidden = false;
  $("#cluster-self").textContent = `this node: ${c.name} (${c.address})`;
  const tbody = $("#peers tbody");
  tbody.textContent = "";
  for (const p of c.peers || []) {
    const tr = document.createElement("tr");
    cell(tr, p.name);
    cell(tr, p.address);
    cell(tr, p.up ? "up" : "down" + (p.reason ? ": " + p.reason : ""), p.up ? "up" : "down");
    cell(tr, p.rtt_ms.toFixed(2) + " ms");
    cell(tr, (Math.abs(p.clock_offset_ms) < 0.005 ? 0 : p.clock_offset_ms).toFixed(2) + " ms"); // no "-0.00"
    cell(tr, p.last_seen_ms < 0 ? "never" : (p.last_seen_ms / 1000).toFixed(1) + " s ago");
    tbody.appendChild(tr);
  }
}

async function poll() {
  try {
    const [page, ts] = await Promise.all([apiWithTotal("/v1/queries?limit=" + pageSize), api("/v1/tenants")]);
    const qs = page.body;
    drawQueries(qs);
    const more = $("#queries-more");
    more.hidden = page.total <= qs.length;
    more.textContent = more.hidden ? "" : "The first " + qs.length + " of " + page.total + " queries by id (cameo list --tenant T lists the others).";
    drawTenants(ts);
    await refreshDetail();
    if (clustered === null) clustered = (await api("/v1/node")).clustered;
    if (clustered) drawCluster(await api("/v1/cluster"));
    const at = new Date();
    $("#updated").textContent = "updated " + at.toLocaleTimeString();
    $("#updated").dataset.at = String(at.getTime());
    $("#status").textContent = "";
    $("#status").className = "";
  } catch (e) {
    $("#status").textContent = (e.status === 401 ? "the node wants its token: open /?token=TOKEN" : "the node does not answer: " + e.message) + " (asking again)";
    $("#status").className = "error";
  }
  setTimeout(poll, every);
}

poll();
