// namegen playground: generate, score and compare through this server's TF Serving REST API.
import { $ } from "./common.js";
import { clearStarred, exportStarred, onGenerate, onRepeat, showStarred } from "./generate.js";
import { onScore } from "./score.js";
import { fillVersions, loadVersions, onCompare, showVersionInfo } from "./versions.js";

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
  $("clear-button").addEventListener("click", clearStarred);
  showStarred();
  loadVersions().then(() => document.body.setAttribute("data-ready", "1"));
}

start();  // a module runs once the document is parsed
