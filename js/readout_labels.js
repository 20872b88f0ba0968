// PortraitOS editor extension: after a run, each PortraitOS node writes its short read-outs (depth range
// and source, subject distance, focus distance and how it was chosen, lighting temperatures) into its
// output-slot labels, which both the classic canvas and the Nodes 2.0 renderer display.
// The node's UI output carries them as `portraitos: [{labels: {output name: label}, ...}]`.
import { app } from "../../scripts/app.js";

function readoutLabels(message) {
  const entry = Array.isArray(message?.portraitos) ? message.portraitos[0] : message?.portraitos;
  const labels = entry?.labels;
  return labels && typeof labels === "object" ? labels : null;
}

app.registerExtension({
  name: "PortraitOS.ReadoutLabels",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!String(nodeData.category ?? "").startsWith("PortraitOS")) return;

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      const r = onExecuted?.apply(this, arguments);
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
