// PortraitOS editor extension: shows the focus distance LensBokeh used (auto focus included)
// on the node after each run, so artists can see where the lens focused without a preview node.
import { app } from "../../scripts/app.js";

app.registerExtension({
  name: "PortraitOS.FocusReadout",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== "LensBokeh") return;

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const lines = message?.text ?? [];
      this.portraitosReadout = Array.isArray(lines) ? lines.join(" ") : String(lines);
      this.setDirtyCanvas(true, true);
    };

    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      onDrawForeground?.apply(this, arguments);
      if (!this.portraitosReadout || this.flags?.collapsed) return;
      ctx.save();
      ctx.font = "12px sans-serif";
      ctx.fillStyle = "#8cf";
      ctx.fillText(this.portraitosReadout, 10, this.size[1] - 8);
      ctx.restore();
    };
  },
});
