// Versions: the model and version pickers, the versions table and the side-by-side comparison.
import { $, el, option, showError, clearErrors, FieldError, integerField, numberField, call,
  formatDate, formatNumber } from "./common.js";
import { applySamplerDefaults, generateRows } from "./generate.js";

const known = { models: [] };

// --- versions ----------------------------------------------------------------------------------
export async function loadVersions() {
  const answer = await call("GET", "/playground/versions");
  if (!answer.ok) {
    $("load-error").textContent = `Could not list the loaded versions: ${answer.message}`;
    return;
  }
  known.models = answer.data.models || [];
  if (!known.defaultsApplied) {
    applySamplerDefaults(answer.data.sampler);
    known.defaultsApplied = true;
  }
  const models = $("model");
  const keep = models.value;
  models.replaceChildren(...known.models.map((m) => option(m.name, m.name)));
  if (keep && known.models.some((m) => m.name === keep)) models.value = keep;
  fillVersions();
}

export function currentModel() {
  return known.models.find((m) => m.name === $("model").value) || { name: "", versions: [] };
}

export function fillVersions() {
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

export function showVersionInfo() {
  const v = currentVersion();
  $("version-info").textContent = v
    ? `preset ${v.preset ?? "?"} · trained ${formatDate(v.exported_at)} · eval ${formatNumber(v.metrics.eval_nats_per_char)} nats/char`
    : "";
  if (v && v.max_name_length && !$("max-length").dataset.touched) {
    $("max-length").value = String(v.max_name_length);
  }
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
// --- compare -----------------------------------------------------------------------------------
export async function onCompare(event) {
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
