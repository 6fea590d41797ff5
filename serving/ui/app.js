// namegen playground: generate, score and compare through this server's TF Serving REST API.
// Every value from the server is put on the page as text (textContent), never as HTML.
"use strict";

const STAR_KEY = "namegen.starred";
const state = { models: [], starred: loadStarred(), lastRequest: null, lastNames: null };

// --- small helpers -----------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function option(value, label) {
  const node = el("option", label);
  node.value = String(value);
  return node;
}

function showError(id, message) {
  const box = $(id + "-error");
  box.textContent = message || "";
  const input = $(id);
  if (input && ["INPUT", "TEXTAREA", "SELECT"].includes(input.tagName)) input.setAttribute("aria-invalid", message ? "true" : "false");
}

function clearErrors(form) {
  for (const box of form.querySelectorAll(".error")) box.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.setAttribute("aria-invalid", "false");
}

class FieldError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

function integerField(id, label, low, high) {
  const text = $(id).value.trim();
  const value = Number(text);
  if (text === "" || !Number.isSafeInteger(value)) throw new FieldError(id, `${label} must be a whole number.`);
  if ((low !== undefined && value < low) || (high !== undefined && value > high)) {
    throw new FieldError(id, `${label} must be between ${low} and ${high}; got ${value}.`);
  }
  return value;
}

function numberField(id, label) {
  const text = $(id).value.trim();
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) throw new FieldError(id, `${label} must be a number.`);
  return value;
}

// --- the TF Serving REST API -------------------------------------------------------------------
async function call(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method, headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined, cache: "no-store",
    });
  } catch (error) {
    return { ok: false, status: 0, message: `Could not reach the server (${error.message}).` };
  }
  const text = await response.text();
  let data = null;
  try { data = JSON.parse(text); } catch (_) { /* not JSON: reported below */ }
  if (response.ok && data) return { ok: true, status: response.status, data };
  let message = data && typeof data.error === "string" ? data.error
    : `HTTP ${response.status}: the answer was not JSON this page can read.`;
  if (response.status === 429) {
    message = `The server is busy (429 Too Many Requests): ${message} Try again in a moment.`;
  }
  return { ok: false, status: response.status, message };
}

function modelPath(model, version) {
  return `/v1/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}`;
}

async function predict(model, version, signature, inputs) {
  return call("POST", modelPath(model, version) + ":predict",
              { signature_name: signature, inputs });
}

// Which field a server message is about, so it is shown next to that field.
const MESSAGE_FIELDS = [
  [/\brows\b/i, "count"], [/temperature/i, "temperature"], [/top_k/i, "top-k"], [/top_p/i, "top-p"],
  [/min_length/i, "min-length"], [/max_length|max-length/i, "max-length"],
  [/prefix/i, "prefix"], [/seed/i, "seed"],
];

function fieldFor(message, status, fallback) {
  if (status === 400) {
    for (const [pattern, field] of MESSAGE_FIELDS) if (pattern.test(message)) return field;
  }
  return fallback;
}

// --- versions ----------------------------------------------------------------------------------
async function loadVersions() {
  const answer = await call("GET", "/playground/versions");
  if (!answer.ok) {
    $("load-error").textContent = `Could not list the loaded versions: ${answer.message}`;
    return;
  }
  state.models = answer.data.models || [];
  const models = $("model");
  const keep = models.value;
  models.replaceChildren(...state.models.map((m) => option(m.name, m.name)));
  if (keep && state.models.some((m) => m.name === keep)) models.value = keep;
  fillVersions();
}

function currentModel() {
  return state.models.find((m) => m.name === $("model").value) || { name: "", versions: [] };
}

function fillVersions() {
  const model = currentModel();
  const versions = model.versions;
  if (!versions.length) {
    $("load-error").textContent = `No version of model "${model.name}" is loaded yet.`;
  } else {
    $("load-error").textContent = "";
  }
  for (const id of ["version", "compare-a", "compare-b"]) {
    const select = $(id);
    const keep = select.value;
    select.replaceChildren(...versions.map((v) => option(v.version, versionLabel(v))));
    if (keep && versions.some((v) => String(v.version) === keep)) select.value = keep;
  }
  if (versions.length > 1 && $("compare-a").value === $("compare-b").value) {
    $("compare-b").value = String(versions[1].version);
  }
  showVersionInfo();
  fillVersionsTable(versions);
}

function versionLabel(v) {
  return `${v.version}${v.preset ? " · " + v.preset : ""}`;
}

function currentVersion() {
  return currentModel().versions.find((v) => String(v.version) === $("version").value);
}

function showVersionInfo() {
  const v = currentVersion();
  $("version-info").textContent = v
    ? `preset ${v.preset ?? "?"} · trained ${formatDate(v.exported_at)} · eval ${formatNumber(v.metrics.eval_nats_per_char)} nats/char`
    : "";
  if (v && v.max_name_length && !$("max-length").dataset.touched) {
    $("max-length").value = String(v.max_name_length);
  }
}

function formatDate(iso) {
  return iso ? iso.replace("T", " ").replace("Z", " UTC") : "unknown";
}

function formatNumber(value, digits = 4) {
  return typeof value === "number" ? value.toFixed(digits) : "—";
}

function fillVersionsTable(versions) {
  const rows = versions.map((v) => {
    const row = el("tr");
    const gate = Object.entries(v.gate || {}).map(([k, x]) => `${k} ${formatNumber(x, 3)}`);
    if (v.blessed !== null && v.blessed !== undefined) gate.unshift(v.blessed ? "blessed" : "not blessed");
    const gateCell = el("td", gate.length ? gate.join(" · ") : (v.problem || "not recorded"));
    if (v.gate_reason) gateCell.title = v.gate_reason;
    row.append(el("td", v.version), el("td", v.preset ?? "—"), el("td", formatDate(v.exported_at)),
               el("td", formatNumber(v.metrics.eval_nats_per_char)), gateCell);
    return row;
  });
  $("versions").replaceChildren(...rows);
}

// --- generate ----------------------------------------------------------------------------------
function readControls() {
  const count = integerField("count", "Count", 1, 256);
  const request = {
    prefix: $("prefix").value,
    temperature: numberField("temperature", "Temperature"),
    seed: integerField("seed", "Seed"),
    max_length: integerField("max-length", "Max length"),
    top_k: integerField("top-k", "Top-k"),
    top_p: numberField("top-p", "Top-p"),
    min_length: integerField("min-length", "Min length"),
    no_copy: $("no-copy").checked,
  };
  return { count, request };
}

function columns(count, request) {
  const inputs = {};
  for (const [key, value] of Object.entries(request)) inputs[key] = Array(count).fill(value);
  inputs.seed = Array.from({ length: count }, (_, i) => request.seed + i);
  return inputs;
}

async function generateRows(model, version, count, request) {
  const answer = await predict(model, version, "serving_default", columns(count, request));
  if (!answer.ok) return answer;
  const out = answer.data.outputs;
  const rows = out.name.map((name, i) => ({
    seed: request.seed + i, name, logProb: out.log_prob[i], length: out.length[i],
  }));
  return { ok: true, rows };
}

async function onGenerate(event) {
  event.preventDefault();
  const form = $("generate-form");
  clearErrors(form);
  let controls;
  try {
    controls = readControls();
  } catch (error) {
    if (error instanceof FieldError) return showError(error.field, error.message);
    throw error;
  }
  const model = $("model").value, version = $("version").value;
  if (!version) return showError("generate", "No version is loaded.");
  const button = $("generate-button");
  button.disabled = true;
  $("generate-summary").textContent = "Generating…";
  const answer = await generateRows(model, version, controls.count, controls.request);
  button.disabled = false;
  if (!answer.ok) {
    $("generate-summary").textContent = "No names: see the message next to the field.";
    return showError(fieldFor(answer.message, answer.status, "generate"), answer.message);
  }
  state.lastRequest = { model, version, ...controls };
  state.lastNames = answer.rows.map((r) => r.name);
  showNames(answer.rows);
  const { request, count } = controls;
  $("generate-summary").textContent =
    `${count} names from ${model} version ${version}, seeds ${request.seed} to ${request.seed + count - 1}. ` +
    "The same seeds and controls always give these same names.";
  $("cli-equivalent").textContent = cliEquivalent(model, version, count, request);
  $("cli").hidden = false;
  $("repeat").hidden = false;
  $("repeat-result").textContent = "";
}

function cliEquivalent(model, version, count, request) {
  const parts = ["namegen generate", `--server http://${location.host}`, `--seed ${request.seed}`,
                 `-n ${count}`, `--temperature ${request.temperature}`];
  if (request.prefix) parts.push(`--prefix '${request.prefix.replaceAll("'", "'\\''")}'`);
  if (request.top_k) parts.push(`--top-k ${request.top_k}`);
  if (request.top_p !== 1) parts.push(`--top-p ${request.top_p}`);
  if (request.min_length) parts.push(`--min-length ${request.min_length}`);
  parts.push(`--max-length ${request.max_length}`);
  if (request.no_copy) parts.push("--no-copy");
  return parts.join(" ") + `   # ${model} version ${version}`;
}

function showNames(rows) {
  const body = rows.map((r) => {
    const row = el("tr");
    const star = el("button", isStarred(r.name) ? "★" : "☆", "star");
    star.type = "button";
    star.title = "Star this name";
    star.setAttribute("aria-pressed", String(isStarred(r.name)));
    star.addEventListener("click", () => {
      toggleStar(r.name);
      star.textContent = isStarred(r.name) ? "★" : "☆";
      star.setAttribute("aria-pressed", String(isStarred(r.name)));
    });
    const starCell = el("td");
    starCell.append(star);
    row.append(starCell, el("td", r.seed, "num"), el("td", r.name, "name"),
               el("td", formatNumber(r.logProb, 3), "num"), el("td", r.length, "num"));
    return row;
  });
  $("names").replaceChildren(...body);
  $("names-table").hidden = false;
}

async function onRepeat() {
  const last = state.lastRequest;
  if (!last) return;
  $("repeat-result").textContent = "asking again…";
  const answer = await generateRows(last.model, last.version, last.count, last.request);
  if (!answer.ok) {
    $("repeat-result").textContent = answer.message;
    return;
  }
  const same = answer.rows.every((r, i) => r.name === state.lastNames[i]);
  $("repeat-result").textContent = same
    ? `✓ asked again: the same ${answer.rows.length} names`
    : "✗ asked again: different names (has the version changed?)";
  $("repeat-result").className = same ? "ok" : "error";
}

// --- stars -------------------------------------------------------------------------------------
function loadStarred() {
  try {
    const saved = JSON.parse(localStorage.getItem(STAR_KEY) || "[]");
    return Array.isArray(saved) ? saved.filter((n) => typeof n === "string") : [];
  } catch (_) {
    return [];
  }
}

function isStarred(name) { return state.starred.includes(name); }

function toggleStar(name) {
  state.starred = isStarred(name) ? state.starred.filter((n) => n !== name) : [...state.starred, name];
  saveStarred();
}

function saveStarred() {
  try { localStorage.setItem(STAR_KEY, JSON.stringify(state.starred)); } catch (_) { /* private mode */ }
  showStarred();
}

function showStarred() {
  const items = state.starred.map((name) => {
    const item = el("li");
    const remove = el("button", "✕", "unstar");
    remove.type = "button";
    remove.title = "Unstar";
    remove.addEventListener("click", () => { toggleStar(name); refreshStars(); });
    item.append(el("span", name, "name"), remove);
    return item;
  });
  $("starred").replaceChildren(...items);
  $("starred-count").textContent = `(${state.starred.length})`;
  $("export-button").disabled = $("clear-button").disabled = !state.starred.length;
}

function refreshStars() {
  for (const row of $("names").children) {
    const star = row.querySelector(".star");
    const name = row.querySelector(".name").textContent;
    star.textContent = isStarred(name) ? "★" : "☆";
    star.setAttribute("aria-pressed", String(isStarred(name)));
  }
}

function exportStarred() {
  const blob = new Blob([state.starred.join("\n") + "\n"], { type: "text/plain;charset=utf-8" });
  const link = el("a");
  link.href = URL.createObjectURL(blob);
  link.download = "namegen-starred.txt";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// --- score -------------------------------------------------------------------------------------
async function onScore(event) {
  event.preventDefault();
  clearErrors($("score-form"));
  const names = $("score-names").value.split(/\r?\n/).filter((line) => line !== "");
  if (!names.length) return showError("score-names", "Type at least one name, one per line.");
  const model = $("model").value, version = $("version").value;
  if (!version) return showError("score", "No version is loaded.");
  $("score-button").disabled = true;
  const answer = await predict(model, version, "score", { name: names });
  $("score-button").disabled = false;
  if (!answer.ok) {
    return showError(answer.status === 400 ? "score-names" : "score", answer.message);
  }
  const out = answer.data.outputs;
  const rows = names.map((name, i) => {
    const row = el("tr");
    row.append(el("td", name, "name"), el("td", formatNumber(out.nats_per_char[i]), "num"),
               el("td", formatNumber(out.log_likelihood[i]), "num"),
               surpriseCell(name, out.position_log_probs ? out.position_log_probs[i] : null,
                            out.num_predictions[i]));
    return row;
  });
  $("scores").replaceChildren(...rows);
  $("score-table").hidden = false;
  const total = out.log_likelihood.reduce((a, b) => a + b, 0);
  const count = out.num_predictions.reduce((a, b) => a + b, 0);
  $("score-summary").textContent =
    `${names.length} names from ${model} version ${version}: ${formatNumber(-total / count)} nats/char overall.`;
}

const SURPRISE_STEPS = [0.5, 1, 2, 3, 4.5];

function surpriseCell(name, logProbs, predictions) {
  const cell = el("td", null, "surprise");
  const letters = [...Array.from(name), "⏎"];
  if (!logProbs || letters.length !== predictions) {
    cell.textContent = "not available from this version's score signature";
    return cell;
  }
  letters.forEach((letter, t) => {
    const surprise = -logProbs[t];
    const level = SURPRISE_STEPS.filter((step) => surprise >= step).length;
    const span = el("span", letter, `letter s${level}`);
    const what = t === letters.length - 1 ? "end of name" : `“${letter}”`;
    span.title = `${what}: p = ${Math.exp(logProbs[t]).toPrecision(3)}, surprise ${surprise.toFixed(2)} nats`;
    span.dataset.logProb = String(logProbs[t]);
    cell.append(span);
  });
  return cell;
}

// --- compare -----------------------------------------------------------------------------------
async function onCompare(event) {
  event.preventDefault();
  clearErrors($("compare-form"));
  const a = $("compare-a").value, b = $("compare-b").value, model = $("model").value;
  let count, request;
  try {
    count = integerField("compare-count", "Count", 1, 256);
    request = {
      prefix: "", temperature: numberField("compare-temperature", "Temperature"),
      seed: integerField("compare-seed", "Seed"), top_k: 0, top_p: 1, min_length: 0, no_copy: false,
    };
  } catch (error) {
    if (error instanceof FieldError) return showError("compare", error.message);
    throw error;
  }
  if (!a || !b) return showError("compare", "Two loaded versions are needed.");
  const limits = [a, b].map((v) => currentModel().versions.find((x) => String(x.version) === v));
  if (limits.some((v) => !v || !v.max_name_length)) {
    return showError("compare", "A version's namegen.json does not give its max name length.");
  }
  $("compare-button").disabled = true;
  const [left, right] = await Promise.all(limits.map((v) =>
    generateRows(model, v.version, count, { ...request, max_length: v.max_name_length })));
  $("compare-button").disabled = false;
  const failed = [left, right].find((x) => !x.ok);
  if (failed) return showError("compare", failed.message);
  $("compare-head-a").textContent = `version ${a}`;
  $("compare-head-b").textContent = `version ${b}`;
  const rows = left.rows.map((l, i) => {
    const r = right.rows[i];
    const row = el("tr", null, l.name === r.name ? "same" : "");
    row.append(el("td", l.seed, "num"), nameWithLogProb(l), nameWithLogProb(r));
    return row;
  });
  $("comparison").replaceChildren(...rows);
  $("compare-table").hidden = false;
}

function nameWithLogProb(row) {
  const cell = el("td");
  cell.append(el("span", row.name, "name"), el("span", ` ${formatNumber(row.logProb, 2)}`, "muted"));
  return cell;
}

// --- tabs and start ----------------------------------------------------------------------------
function showTab(id) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.getAttribute("aria-controls") === id;
    tab.setAttribute("aria-selected", String(selected));
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
}

function start() {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => showTab(tab.getAttribute("aria-controls")));
  }
  $("model").addEventListener("change", fillVersions);
  $("version").addEventListener("change", showVersionInfo);
  $("max-length").addEventListener("input", () => { $("max-length").dataset.touched = "1"; });
  $("generate-form").addEventListener("submit", onGenerate);
  $("repeat-button").addEventListener("click", onRepeat);
  $("score-form").addEventListener("submit", onScore);
  $("compare-form").addEventListener("submit", onCompare);
  $("export-button").addEventListener("click", exportStarred);
  $("clear-button").addEventListener("click", () => { state.starred = []; saveStarred(); refreshStars(); });
  showStarred();
  loadVersions().then(() => document.body.setAttribute("data-ready", "1"));
}

document.addEventListener("DOMContentLoaded", start);
