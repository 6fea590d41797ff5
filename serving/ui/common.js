// Shared by the playground modules: DOM helpers, field checks, the TF Serving REST calls.
// Every value from the server is put on the page as text (textContent), never as HTML.

// --- small helpers -----------------------------------------------------------------------------
export const $ = (id) => document.getElementById(id);

export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function option(value, label) {
  const node = el("option", label);
  node.value = String(value);
  return node;
}

export function showError(id, message) {
  const box = $(id + "-error");
  box.textContent = message || "";
  const input = $(id);
  if (input && ["INPUT", "TEXTAREA", "SELECT"].includes(input.tagName)) input.setAttribute("aria-invalid", message ? "true" : "false");
}

export function clearErrors(form) {
  for (const box of form.querySelectorAll(".error")) box.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.setAttribute("aria-invalid", "false");
}

export class FieldError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

export function integerField(id, label, low, high) {
  const text = $(id).value.trim();
  const value = Number(text);
  if (text === "" || !Number.isSafeInteger(value)) throw new FieldError(id, `${label} must be a whole number.`);
  if ((low !== undefined && value < low) || (high !== undefined && value > high)) {
    throw new FieldError(id, `${label} must be between ${low} and ${high}; got ${value}.`);
  }
  return value;
}

export function numberField(id, label) {
  const text = $(id).value.trim();
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) throw new FieldError(id, `${label} must be a number.`);
  return value;
}

// --- the TF Serving REST API -------------------------------------------------------------------
export async function call(method, path, body) {
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

export async function predict(model, version, signature, inputs) {
  return call("POST", modelPath(model, version) + ":predict",
              { signature_name: signature, inputs });
}

// Which field a server message is about, so it is shown next to that field.
const MESSAGE_FIELDS = [
  [/\brows\b/i, "count"], [/temperature/i, "temperature"], [/top_k/i, "top-k"], [/top_p/i, "top-p"],
  [/min_length/i, "min-length"], [/max_length|max-length/i, "max-length"],
  [/prefix/i, "prefix"], [/seed/i, "seed"],
];

export function fieldFor(message, status, fallback) {
  if (status === 400) {
    for (const [pattern, field] of MESSAGE_FIELDS) if (pattern.test(message)) return field;
  }
  return fallback;
}

// --- formatting ---------------------------------------------------------------------------------
export function formatDate(iso) {
  return iso ? iso.replace("T", " ").replace("Z", " UTC") : "unknown";
}

export function formatNumber(value, digits = 4) {
  return typeof value === "number" ? value.toFixed(digits) : "—";
}
