// Generate: the controls, the names, "same seed, same names", and the starred list.
import { $, el, showError, clearErrors, FieldError, integerField, numberField, predict,
  fieldFor, formatNumber } from "./common.js";

const STAR_KEY = "namegen.starred";
const state = { starred: loadStarred(), lastRequest: null, lastNames: null };

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
    eta: numberField("eta", "Eta"),
    no_copy: $("no-copy").checked,
    length_calibration: $("length-calibration").checked,
    unique: $("unique").checked,
  };
  return { count, request };
}

// The sampler the page opens with: the server's configs.SAMPLER, as `namegen generate` uses.
export function applySamplerDefaults(sampler) {
  if (!sampler) return;
  const numbers = { temperature: "temperature", "top-k": "top_k", "top-p": "top_p",
                    "min-length": "min_length", eta: "eta" };
  for (const [field, key] of Object.entries(numbers)) {
    if (key in sampler) $(field).value = String(sampler[key]);
  }
  for (const [field, key] of Object.entries({ "no-copy": "no_copy",
    "length-calibration": "length_calibration", unique: "unique" })) {
    if (key in sampler) $(field).checked = Boolean(sampler[key]);
  }
  if ("temperature" in sampler) $("compare-temperature").value = String(sampler.temperature);
}

// serving_default takes the first eight controls; eta, length_calibration and unique are
// the `sample` signature's (serving/contract.py).
const SAMPLE_ONLY = ["eta", "length_calibration", "unique"];

function columns(count, request) {
  const inputs = {};
  for (const [key, value] of Object.entries(request)) inputs[key] = Array(count).fill(value);
  inputs.seed = Array.from({ length: count }, (_, i) => request.seed + i);
  if ("unique" in request) inputs.unique = Array(count).fill(request.unique ? count : 0);
  return inputs;
}

export async function generateRows(model, version, count, request) {
  const signature = SAMPLE_ONLY.some((key) => key in request) ? "sample" : "serving_default";
  const answer = await predict(model, version, signature, columns(count, request));
  if (!answer.ok) return answer;
  const out = answer.data.outputs;
  const rows = out.name.map((name, i) => ({
    seed: request.seed + i, name, logProb: out.log_prob[i], length: out.length[i],
  }));
  return { ok: true, rows };
}

export async function onGenerate(event) {
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
  parts.push(`--eta ${request.eta}`);
  parts.push(request.no_copy ? "--no-copy" : "--allow-copies");
  parts.push(request.length_calibration ? "--length-calibration" : "--no-length-calibration");
  parts.push(request.unique ? "--unique" : "--no-unique");
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

export async function onRepeat() {
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

export function showStarred() {
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

export function exportStarred() {
  const blob = new Blob([state.starred.join("\n") + "\n"], { type: "text/plain;charset=utf-8" });
  const link = el("a");
  link.href = URL.createObjectURL(blob);
  link.download = "namegen-starred.txt";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

export function clearStarred() {
  state.starred = [];
  saveStarred();
  refreshStars();
}
