// The board's page: follows /events (Server-Sent Events) and draws every run's curves as
// SVG, with the selected run's state, layers, pictures, confusion matrix and graph.
// No libraries: the page must work offline, from the board alone.
"use strict";
const colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
let runs = {}, order = [], selected = null, pending = false, connected = false;
// What the detail sections last showed, to redraw them only when it changes.
const drawn = {};

const $ = (id) => document.getElementById(id);
const el = (tag, attributes = {}, text) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
};
const svgEl = (tag, attributes = {}) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
};
const fmt = (value, digits = 4) => value === undefined || value === null ? "–" : (Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-3 && value !== 0) ? value.toExponential(2) : Number(value.toPrecision(digits)).toString());
const duration = (seconds) => {
  if (!isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return (h > 0 ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(s % 60).padStart(2, "0");
};

function newRun(message) {
  return { id: message.run, name: message.name, rows: [], start: null, status: null, layers: null, test: null, pictures: null,
           end: null, state: "unknown", message: "", shown: true, live: [], color: colors[order.length % colors.length] };
}

function handle(message) {
  if (message.kind === "hello") { runs = {}; order = []; return; }  // a (re)connection: the history follows
  if (message.kind === "run") {
    if (!runs[message.run]) { runs[message.run] = newRun(message); order.push(message.run); }
    if (selected === null || !runs[selected]) selected = message.run;
    return;
  }
  const run = runs[message.run];
  if (!run) return;
  switch (message.kind) {
    case "reset": Object.assign(run, newRun({ run: run.id, name: run.name }), { color: run.color, shown: run.shown }); break;
    case "rows":
      for (const row of message.rows) run.rows.push(row);
      if (run.rows.length) { const last = run.rows[run.rows.length - 1].iteration; run.live = run.live.filter((s) => s.iteration >= last); }
      break;
    case "records":
      for (const record of message.records) {
        if (record.event === "start") run.start = record;
        else if (record.event === "status") { run.status = record; run.live.push(record); }
        else if (record.event === "layers") run.layers = record;
        else if (record.event === "test") { run.test = record; if (record.pictures) run.pictures = record.pictures; }
        else if (record.event === "end") run.end = record;
      }
      break;
    case "state": run.state = message.state; run.message = message.message || ""; break;
  }
}

// At most one render a second: a run records its status once a second, and a browser that
// redrew on every message would take more of the cores training runs on.
let lastRender = 0;
function schedule() {
  if (pending) return;
  pending = true;
  setTimeout(() => requestAnimationFrame(() => { pending = false; lastRender = Date.now(); render(); }),
             Math.max(0, 1000 - (Date.now() - lastRender)));
}

function eta(run) {
  const status = run.status, start = run.start;
  if (!status || !start || run.state !== "running") return NaN;
  const perSecond = status.images_per_second / start.batch;
  return perSecond > 0 ? (start.max_iter - status.iteration) / perSecond : NaN;
}

function lastValue(run, key) {
  for (let i = run.rows.length - 1; i >= 0; i--) if (run.rows[i][key] !== undefined) return run.rows[i][key];
  return undefined;
}

function renderRuns() {
  const signature = JSON.stringify([selected, order.map((id) => { const r = runs[id]; return [r.shown, r.state, r.status, r.rows.length, r.start && r.start.time]; })]);
  if (drawn.runs === signature) return;
  drawn.runs = signature;
  const table = el("table", { class: "runs" });
  const head = el("tr");
  for (const title of ["", "run", "state", "iteration", "epoch", "train loss", "test accuracy", "lr", "images/s", "elapsed", "ETA"]) head.appendChild(el("th", {}, title));
  table.appendChild(head);
  for (const id of order) {
    const run = runs[id], status = run.status || {};
    const row = el("tr", { "data-run": id, class: id === selected ? "selected" : "" });
    const box = el("input", { type: "checkbox", title: "show in the charts" });
    box.checked = run.shown;
    box.addEventListener("change", () => { run.shown = box.checked; schedule(); });
    const first = el("td"); first.appendChild(box); first.appendChild(el("span", { class: "swatch", style: "background:" + run.color }));
    row.appendChild(first);
    const name = el("td", { class: "name" }, run.name);
    name.addEventListener("click", () => { selected = id; schedule(); });
    row.appendChild(name);
    row.appendChild(el("td", { class: "state " + run.state }, run.state));
    const iteration = status.iteration !== undefined ? status.iteration : lastValue(run, "iteration");
    row.appendChild(el("td", {}, (iteration !== undefined ? iteration : "–") + (run.start ? " / " + run.start.max_iter : "")));
    row.appendChild(el("td", {}, fmt(status.epoch !== undefined ? status.epoch : lastValue(run, "epoch"), 3)));
    row.appendChild(el("td", {}, fmt(status.loss !== undefined ? status.loss : lastValue(run, "train_loss"))));
    row.appendChild(el("td", {}, fmt(lastValue(run, "test_accuracy"))));
    row.appendChild(el("td", {}, fmt(status.lr !== undefined ? status.lr : lastValue(run, "lr"))));
    row.appendChild(el("td", {}, status.images_per_second ? Math.round(status.images_per_second).toString() : "–"));
    row.appendChild(el("td", {}, duration(status.seconds !== undefined ? status.seconds : lastValue(run, "seconds"))));
    row.appendChild(el("td", {}, duration(eta(run))));
    table.appendChild(row);
  }
  $("runs").replaceChildren(table);
}

// Ticks at 1, 2 or 5 times a power of ten, about `count` of them, each with a label that
// shows as many decimals as the step needs (0.00998, 0.00999, 0.01 rather than three 0.00999).
function ticks(low, high, count) {
  if (!(high > low)) return [{ value: low, label: fmt(low) }];
  const raw = (high - low) / count, power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const large = Math.max(Math.abs(low), Math.abs(high));
  const out = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) {
    const value = Number(t.toPrecision(12));
    out.push({ value, label: large >= 1e5 || decimals > 6 ? value.toExponential(Math.max(0, Math.round(Math.log10(Math.abs(value || 1) / step)))) : value.toFixed(decimals) });
  }
  return out;
}

// One chart: `series` are {run, color, cls, dashed, points: [[x, y]]}.
function chart(id, title, series, xLabel) {
  const figure = $(id), width = Math.max(figure.clientWidth || 0, 320), height = 230;
  // Unchanged since the last drawing (the accuracy curve between tests): keep it.
  const signature = JSON.stringify([width, xLabel, series.map((s) => [s.run, s.color, s.points.length, s.points[s.points.length - 1]])]);
  if (drawn[id] === signature) return;
  drawn[id] = signature;
  const margin = { left: 56, right: 12, top: 22, bottom: 34 };
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "chart" });
  const all = series.flatMap((s) => s.points).filter((p) => isFinite(p[0]) && isFinite(p[1]));
  const title_ = svgEl("text", { x: margin.left, y: 15, class: "title" }); title_.textContent = title; svg.appendChild(title_);
  if (all.length === 0) {
    const empty = svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }); empty.textContent = "no points yet";
    svg.appendChild(empty); figure.replaceChildren(svg); return;
  }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { const pad = Math.abs(y0) * 0.1 || 1; y0 -= pad; y1 += pad; }
  const sx = (x) => margin.left + (x - x0) / (x1 - x0) * (width - margin.left - margin.right);
  const sy = (y) => height - margin.bottom - (y - y0) / (y1 - y0) * (height - margin.top - margin.bottom);
  for (const t of ticks(y0, y1, 5)) {
    svg.appendChild(svgEl("line", { x1: margin.left, x2: width - margin.right, y1: sy(t.value), y2: sy(t.value), class: "grid" }));
    const label = svgEl("text", { x: margin.left - 6, y: sy(t.value) + 4, "text-anchor": "end", class: "tick" }); label.textContent = t.label; svg.appendChild(label);
  }
  for (const t of ticks(x0, x1, 6)) {
    svg.appendChild(svgEl("line", { x1: sx(t.value), x2: sx(t.value), y1: height - margin.bottom, y2: height - margin.bottom + 4, class: "axis" }));
    const label = svgEl("text", { x: sx(t.value), y: height - margin.bottom + 16, "text-anchor": "middle", class: "tick" }); label.textContent = t.label; svg.appendChild(label);
  }
  svg.appendChild(svgEl("line", { x1: margin.left, x2: width - margin.right, y1: height - margin.bottom, y2: height - margin.bottom, class: "axis" }));
  const xTitle = svgEl("text", { x: width - margin.right, y: height - 4, "text-anchor": "end", class: "tick" }); xTitle.textContent = xLabel; svg.appendChild(xTitle);
  for (const s of series) {
    const points = s.points.filter((p) => isFinite(p[0]) && isFinite(p[1]));
    if (points.length === 0) continue;
    if (s.thin) {
      svg.appendChild(svgEl("polyline", { points: points.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" "), fill: "none",
                                          stroke: s.color, "stroke-width": 1, opacity: 0.45, class: s.cls }));
      continue;
    }
    svg.appendChild(svgEl("polyline", { points: points.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" "), fill: "none",
                                        stroke: s.color, "stroke-width": 1.6, "stroke-dasharray": s.dashed ? "5 3" : "none" }));
    for (const p of points) {
      const dot = svgEl("circle", { cx: sx(p[0]).toFixed(1), cy: sy(p[1]).toFixed(1), r: 2.2, fill: s.color, class: s.cls, "data-run": s.run });
      const tip = svgEl("title"); tip.textContent = `${runs[s.run].name}: ${s.cls} ${fmt(p[1], 5)} at ${xLabel} ${fmt(p[0], 6)}`; dot.appendChild(tip);
      svg.appendChild(dot);
    }
  }
  figure.replaceChildren(svg);
}

function renderCharts() {
  const x = $("xaxis").value, label = { iteration: "iterations", epoch: "epochs", seconds: "seconds" }[x];
  const shown = order.map((id) => runs[id]).filter((run) => run.shown);
  const points = (run, key) => run.rows.filter((row) => row[key] !== undefined).map((row) => [row[x], row[key]]);
  // Between the log's rows (every `display` iterations), the status the run records each
  // second: a thin line without points, which keeps the curve moving.
  const live = (run, key) => run.live.filter((s) => s[key] !== undefined && s[key] !== null && (!run.rows.length || s.iteration > run.rows[run.rows.length - 1].iteration))
    .map((s) => [s[x], s[key]]);
  const lastRow = (run, key) => { const rows = run.rows.filter((row) => row[key] !== undefined); return rows.length ? [[rows[rows.length - 1][x], rows[rows.length - 1][key]]] : []; };
  chart("chart-loss", "loss (train solid, test dashed; thin: since the last log row)", shown.flatMap((run) => [
    { run: run.id, color: run.color, cls: "live", thin: true, points: lastRow(run, "train_loss").concat(live(run, "loss")) },
    { run: run.id, color: run.color, cls: "train", points: points(run, "train_loss") },
    { run: run.id, color: run.color, cls: "test", dashed: true, points: points(run, "test_loss") }]), label);
  chart("chart-accuracy", "test accuracy", shown.map((run) => ({ run: run.id, color: run.color, cls: "test", points: points(run, "test_accuracy") })), label);
  chart("chart-lr", "learning rate", shown.flatMap((run) => [
    { run: run.id, color: run.color, cls: "live", thin: true, points: lastRow(run, "lr").concat(live(run, "lr")) },
    { run: run.id, color: run.color, cls: "lr", points: points(run, "lr") }]), label);
}

function renderDetail() {
  const run = runs[selected];
  if (!run) { $("detail").hidden = true; return; }
  $("detail").hidden = false;
  $("detail-title").textContent = run.name + (run.start ? ` — ${run.start.name}, ${run.start.solver}, batch ${run.start.batch}, ${run.start.threads} thread(s)` : "");
  const banner = $("banner"), status = run.status || {};
  const texts = {
    running: `running: iteration ${status.iteration ?? 0} of ${run.start ? run.start.max_iter : "?"}, ETA ${duration(eta(run))}`,
    finished: `finished: ${run.end ? run.end.iteration : ""} iterations in ${duration(run.end ? run.end.seconds : NaN)}`,
    interrupted: `interrupted at iteration ${run.end ? run.end.iteration : "?"} (resume it with --resume)`,
    failed: `failed at iteration ${run.end ? run.end.iteration : "?"}: ${run.message}`,
    died: `died after iteration ${status.iteration ?? "?"}: ${run.message}`,
    unknown: "no record of this run's process (a log without a record): only its curves are shown",
  };
  banner.className = "banner " + run.state;
  banner.textContent = texts[run.state] || run.state;
  document.body.dataset.state = run.state;
  // Pictures, confusion and layers change at tests and displayed iterations, not with each
  // second's status: they are rebuilt only when theirs changed (decoding pictures again every
  // second would take a browser's share of the cores from training).
  const changed = (key, value) => { const same = drawn[key] === value; drawn[key] = value; return !same; };
  if (changed("test", run.test)) { renderPictures(run); renderConfusion(run); }
  if (changed("layers", run.layers)) renderLayers(run);
  const graph = $("graph-image"), source = run.start ? `/runs/${run.id}/graph.svg?t=${run.start.time}` : "";
  if (source && graph.getAttribute("src") !== source) graph.setAttribute("src", source);
  graph.hidden = !source;
}

function renderPictures(run) {
  const box = $("pictures");
  box.replaceChildren();
  const pictures = run.pictures || {};
  for (const key of ["filters", "input", "maps"]) {
    if (!pictures[key]) continue;
    const figure = el("figure", { class: "picture " + key });
    figure.appendChild(el("img", { src: "data:image/png;base64," + pictures[key].png, alt: pictures[key].caption }));
    figure.appendChild(el("figcaption", {}, pictures[key].caption + (run.test ? ` (test at iteration ${run.test.iteration})` : "")));
    box.appendChild(figure);
  }
  if (!box.children.length) {
    box.appendChild(el("p", { class: "note" }, run.test ? "no pictures: the net's first learned layer does not read images"
                                                        : "filters and feature maps appear at the first test"));
  }
}

function renderConfusion(run) {
  const box = $("confusion");
  box.replaceChildren();
  const test = run.test;
  if (!test || !test.confusion) return;
  const matrix = test.confusion, names = test.class_names || matrix.map((_, i) => String(i));
  const table = el("table", { class: "confusion" });
  table.appendChild(el("caption", {}, `confusion at iteration ${test.iteration}: rows are the truth, columns the prediction`));
  const head = el("tr"); head.appendChild(el("th"));
  names.forEach((name, i) => head.appendChild(el("th", { title: name }, String(i))));
  table.appendChild(head);
  matrix.forEach((counts, truth) => {
    const total = counts.reduce((a, b) => a + b, 0) || 1, row = el("tr");
    row.appendChild(el("th", { class: "class" }, `${truth} ${names[truth]}`));
    counts.forEach((count, predicted) => {
      const share = count / total, hue = truth === predicted ? 210 : 5;
      row.appendChild(el("td", { style: `background: hsla(${hue}, 70%, 50%, ${Math.min(share * (truth === predicted ? 1 : 4), 1).toFixed(3)})`,
                                 title: `${names[truth]} as ${names[predicted]}: ${count}` }, String(count)));
    });
    table.appendChild(row);
  });
  box.appendChild(table);
}

// A layer's numbers; the ratio of update to weights is what shows a layer that does not
// learn (below 1e-5) or one that runs away (above 1e-2); about 1e-3 is healthy.
function renderLayers(run) {
  const box = $("layers");
  box.replaceChildren();
  const layers = run.layers;
  if (!layers) { box.appendChild(el("p", { class: "note" }, "per-layer numbers appear at the first displayed iteration")); return; }
  const table = el("table", { class: "layers" });
  table.appendChild(el("caption", {}, `layers at iteration ${layers.iteration}: ms per iteration (mean since the last display), and L2 norms of weights, mean gradient and update`));
  const head = el("tr");
  for (const title of ["layer", "type", "forward ms", "backward ms", "parameter", "‖w‖", "‖g‖", "‖Δw‖ / ‖w‖"]) head.appendChild(el("th", {}, title));
  table.appendChild(head);
  const parameters = {};
  for (const p of layers.parameters) (parameters[p.layer] = parameters[p.layer] || []).push(p);
  const named = new Set(layers.layers.map((l) => l.name));
  const rows = layers.layers.map((l) => [l, parameters[l.name] || []]);
  for (const [layer, list] of Object.entries(parameters)) if (!named.has(layer)) rows.push([{ name: layer, type: "(folded)" }, list]);
  for (const [layer, list] of rows) {
    const span = Math.max(list.length, 1);
    list.length ? list.forEach((p, index) => addRow(layer, p, index === 0, span)) : addRow(layer, null, true, 1);
  }
  function addRow(layer, p, first, span) {
    const row = el("tr");
    if (first) {
      row.appendChild(el("td", { rowspan: span }, layer.name));
      row.appendChild(el("td", { rowspan: span }, layer.type));
      row.appendChild(el("td", { rowspan: span, class: "number" }, layer.forward_ms === undefined ? "–" : layer.forward_ms.toFixed(3)));
      row.appendChild(el("td", { rowspan: span, class: "number" }, layer.backward_ms === undefined ? "–" : layer.backward_ms.toFixed(3)));
    }
    if (p) {
      const ratio = p.weight_norm > 0 ? p.update_norm / p.weight_norm : NaN;
      // Biases start near zero, so their ratio says little: weights only. Blobs the solver does
      // not learn (lr_mult 0, such as BatchNorm's statistics) are not flagged.
      const learned = p.learned !== false;
      const flag = !learned ? "" : !(p.gradient_norm > 0) ? "dead" : p.index > 0 ? "" : ratio > 1e-2 ? "fast" : ratio < 1e-5 ? "slow" : "";
      row.appendChild(el("td", {}, `${p.index} [${p.shape.join("×")}]`));
      row.appendChild(el("td", { class: "number" }, fmt(p.weight_norm)));
      row.appendChild(el("td", { class: "number " + (flag === "dead" ? "dead" : "") }, learned ? fmt(p.gradient_norm) : "–"));
      row.appendChild(el("td", { class: "number " + flag, title: { dead: "no gradient reaches it", fast: "the update is large against the weights: it may diverge", slow: "it barely changes" }[flag] || "" },
                         learned ? fmt(ratio, 3) : "not learned"));
    } else {
      for (let i = 0; i < 4; i++) row.appendChild(el("td"));
    }
    table.appendChild(row);
  }
  box.appendChild(table);
}

function render() {
  const states = order.map((id) => runs[id].state);
  $("connection").textContent = connected ? (states.includes("running") ? "live" : "connected") : "not connected to the board: it has stopped (the run's process ended) or is restarting";
  $("connection").className = connected ? "live" : "lost";
  renderRuns();
  renderCharts();
  renderDetail();
}

function connect() {
  const events = new EventSource("/events");
  events.onopen = () => { connected = true; schedule(); };
  events.onmessage = (event) => { handle(JSON.parse(event.data)); schedule(); };
  events.onerror = () => { connected = false; schedule(); };
}

$("xaxis").addEventListener("change", schedule);
window.addEventListener("resize", schedule);
connect();
