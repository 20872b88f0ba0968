// PortraitOS editor extension: after a run, each PortraitOS node writes its short read-outs (depth range
// and source, subject distance, focus distance and how it was chosen, lighting temperatures) into its
// output-slot labels, which both the classic canvas and the Nodes 2.0 renderer display, and shows the
// run's warnings on the node itself (LensBokeh in its panel, js/portraitos.js; every other node in a
// text widget added under its inputs once it has something to say).
// The node's UI output carries them as `portraitos: [{labels: {output name: label}, warnings: [...]}]`.
import { app } from "../../scripts/app.js";

const WARNINGS = "portraitos_warnings";
const LENS_NODE = "LensBokeh"; // its panel shows the warnings

function readoutEntry(message) {
  const entry = Array.isArray(message?.portraitos) ? message.portraitos[0] : message?.portraitos;
  return entry && typeof entry === "object" ? entry : null;
}

function readoutLabels(message) {
  const labels = readoutEntry(message)?.labels;
  return labels && typeof labels === "object" ? labels : null;
}

/** The run's warnings in a DOM widget on the node (made on the first warning, emptied by a clean run). */
function showWarnings(node, warnings) {
  let box = node.portraitosWarnings;
  if (!box) {
    if (!warnings.length || typeof node.addDOMWidget !== "function") return;
    box = document.createElement("div");
    box.className = "portraitos-warnings";
    box.style.cssText = "font:11px/1.35 sans-serif;color:#f0b429;overflow:auto;overflow-wrap:anywhere;" +
      "max-height:7em;box-sizing:border-box;padding:2px 4px";
    node.addDOMWidget(WARNINGS, "portraitos_warnings", box, {
      serialize: false,
      hideOnZoom: false,
      getValue: () => "",
      setValue: () => {},
      getMinHeight: () => (box.childElementCount ? 20 + 15 * Math.min(box.childElementCount, 4) : 0),
    });
    node.portraitosWarnings = box;
  }
  box.replaceChildren(
    ...warnings.map((w) => {
      const div = document.createElement("div");
      div.textContent = `⚠ ${w}`;
      return div;
    })
  );
  box.style.display = warnings.length ? "" : "none";
  node.setSize?.(node.computeSize?.() ?? node.size);
}

app.registerExtension({
  name: "PortraitOS.ReadoutLabels",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!String(nodeData.category ?? "").startsWith("PortraitOS")) return;

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      const r = onExecuted?.apply(this, arguments);
      const entry = readoutEntry(message);
      if (nodeData.name !== LENS_NODE && entry) {
        const warnings = Array.isArray(entry.warnings) ? entry.warnings.map(String) : [];
        showWarnings(this, warnings);
      }
      const labels = readoutLabels(message);
      if (!labels || !Array.isArray(this.outputs)) return r;
      for (const slot of this.outputs) {
        if (typeof labels[slot.name] === "string") slot.label = labels[slot.name];
      }
      this.setDirtyCanvas?.(true, true);
      return r;
    };
  },
});
