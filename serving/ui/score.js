// Score: nats/char and log-likelihood per name, and how surprised the model was at each letter.
import { $, el, showError, clearErrors, predict, formatNumber } from "./common.js";

// --- score -------------------------------------------------------------------------------------
export async function onScore(event) {
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
