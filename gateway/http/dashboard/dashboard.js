// PayPerAgent dashboard: polls /stats and /stats/settlements and draws plain SVG. No libraries,
// no requests anywhere but this gateway (the page's Content-Security-Policy enforces it).
// Amounts arrive as decimal strings of atomic units and are formatted with BigInt: exact.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 5000;
const $ = (selector) => document.querySelector(selector);

function figure(name, text) {
  for (const el of document.querySelectorAll(`[data-figure="${name}"]`)) el.textContent = text;
}

function formatUnits(amount, decimals) {
  if (decimals === null || decimals === undefined) return `${amount} units`;
  const value = BigInt(amount);
  const scale = 10n ** BigInt(decimals);
  const whole = value / scale;
  const fraction = (value % scale).toString().padStart(decimals, "0").replace(/0+$/, "");
  return fraction === "" ? whole.toString() : `${whole}.${fraction}`;
}

function tokenName(line) {
  return line.symbol ?? `${line.token.slice(0, 6)}…${line.token.slice(-4)}`;
}

function formatMs(value) {
  return value === null ? "–" : value < 10 ? value.toFixed(2) : value.toFixed(0);
}

function formatAge(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function el(name, attributes = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function emptyChart(svg, message) {
  svg.appendChild(el("text", { x: 300, y: 95, "text-anchor": "middle", class: "empty" }, message));
}

function drawRequests(series) {
  const svg = $("#chart-requests");
  clear(svg);
  const points = series.points;
  const max = Math.max(0, ...points.map((p) => p.requests));
  if (max === 0) return emptyChart(svg, "no requests in this window");
  const width = 560 / points.length;
  points.forEach((p, i) => {
    const h = (p.requests / max) * 140;
    const e = (p.errors / max) * 140;
    const x = 30 + i * width;
    svg.appendChild(el("rect", { x, y: 150 - h, width: Math.max(1, width - 2), height: h, fill: "#2f6fed" }));
    if (e > 0) svg.appendChild(el("rect", { x, y: 150 - e, width: Math.max(1, width - 2), height: e, fill: "#d33c3c" }));
  });
  svg.appendChild(el("line", { x1: 30, y1: 150, x2: 590, y2: 150, stroke: "#6b7385" }));
  svg.appendChild(el("text", { x: 2, y: 16 }, String(max)));
  svg.appendChild(el("text", { x: 30, y: 168 }, new Date(points[0].start).toLocaleString()));
  svg.appendChild(el("text", { x: 590, y: 168, "text-anchor": "end" }, "now"));
}

function drawRevenue(revenue) {
  const svg = $("#chart-revenue");
  clear(svg);
  if (revenue.length === 0) return emptyChart(svg, "nothing charged in this window");
  // Amounts in different tokens do not compare, so bar lengths show the number of payments in
  // each token; the labels carry the exact amounts.
  const max = Math.max(...revenue.map((line) => line.payments));
  const rowHeight = Math.min(40, 170 / revenue.length);
  revenue.forEach((line, i) => {
    const y = 5 + i * rowHeight;
    svg.appendChild(el("text", { x: 0, y: y + rowHeight / 2 + 4 }, tokenName(line)));
    svg.appendChild(el("rect", { x: 80, y, width: Math.max(1, (line.payments / max) * 260), height: rowHeight - 8, fill: "#1f9d55" }));
    const payments = line.payments === 1 ? "1 payment" : `${line.payments} payments`;
    svg.appendChild(el("text", { x: 350, y: y + rowHeight / 2 + 4, "data-token": line.token }, `${formatUnits(line.amount, line.decimals)} ${line.symbol ?? ""} (${payments})`));
  });
}

function drawLatency(latency) {
  const svg = $("#chart-latency");
  clear(svg);
  const entries = [["p50", latency.p50], ["p95", latency.p95], ["p99", latency.p99]];
  const max = Math.max(0, ...entries.map(([, v]) => v ?? 0));
  if (max === 0 && entries.every(([, v]) => v === null)) return emptyChart(svg, "no latency data in this window");
  entries.forEach(([name, value], i) => {
    const y = 15 + i * 52;
    const w = max === 0 ? 1 : ((value ?? 0) / max) * 420;
    svg.appendChild(el("text", { x: 0, y: y + 22 }, name));
    svg.appendChild(el("rect", { x: 40, y, width: Math.max(1, w), height: 34, fill: "#2f6fed" }));
    svg.appendChild(el("text", { x: 50 + w, y: y + 22 }, `${formatMs(value)} ms`));
  });
}

function drawBreakers(breakers) {
  const box = $("#breakers");
  clear(box);
  const names = Object.keys(breakers ?? {}).sort();
  if (names.length === 0) {
    const none = document.createElement("span");
    none.className = "empty";
    none.textContent = "no upstream breakers reported";
    box.appendChild(none);
    return;
  }
  for (const name of names) {
    const tile = document.createElement("span");
    tile.className = `breaker ${breakers[name]}`;
    tile.dataset.breaker = name;
    tile.textContent = `${name}: ${breakers[name]}`;
    box.appendChild(tile);
  }
}

function fillTable(selector, rows, columns, emptyText) {
  const body = $(`${selector} tbody`);
  clear(body);
  if (rows.length === 0) {
    const tr = body.insertRow();
    const td = tr.insertCell();
    td.colSpan = columns;
    td.className = "empty";
    td.textContent = emptyText;
    return;
  }
  for (const cells of rows) {
    const tr = body.insertRow();
    for (const [text, mono] of cells) {
      const td = tr.insertCell();
      td.textContent = text;
      if (mono) td.className = "mono";
    }
  }
}

function render(stats, settlements) {
  figure("requests-total", String(stats.requests.total));
  figure("requests-ok", String(stats.requests.ok));
  figure("requests-402", String(stats.requests.paymentRequired));
  figure("server-errors", String(stats.requests.serverErrors));
  figure("error-rate", `${(stats.requests.errorRate * 100).toFixed(2)} %`);
  figure("p50", formatMs(stats.latencyMs.p50));
  figure("p95", formatMs(stats.latencyMs.p95));
  figure("p99", formatMs(stats.latencyMs.p99));
  figure("backlog", stats.settlement ? String(stats.settlement.pending) : "–");
  figure("lag", stats.settlement ? formatAge(stats.settlement.oldestAgeSeconds) : "–");
  drawRequests(stats.series);
  drawRevenue(stats.revenue);
  drawLatency(stats.latencyMs);
  drawBreakers(stats.breakers);
  fillTable(
    "#settlements",
    settlements.settlements.map((s) => [
      [new Date(s.settledAt).toLocaleString()],
      [`${formatUnits(s.amount, s.decimals)} ${s.symbol ?? s.token}`],
      [s.scheme],
      [s.payer, true],
      [s.txHash, true],
    ]),
    5,
    "no confirmed settlements yet",
  );
  fillTable(
    "#agents",
    stats.topAgents.map((a) => [
      [a.wallet, true],
      [a.tier],
      [String(a.requests)],
      [String(a.successful)],
      [a.spent.map((line) => `${formatUnits(line.amount, line.decimals)} ${line.symbol ?? line.token}`).join(", ") || "–"],
    ]),
    5,
    "no paying agents in this window",
  );
}

async function getJson(url) {
  const response = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

let timer;
async function refresh() {
  clearTimeout(timer);
  const status = $("#status");
  try {
    const window = $("#window").value;
    const [stats, settlements] = await Promise.all([getJson(`/stats?window=${window}`), getJson("/stats/settlements?limit=20")]);
    render(stats, settlements);
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    status.className = "status";
    document.body.dataset.loaded = "true";
  } catch (error) {
    status.textContent = `could not load figures: ${error.message}`;
    status.className = "status error";
  }
  timer = setTimeout(refresh, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#window").addEventListener("change", refresh);
  refresh();
});
