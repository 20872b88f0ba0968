// PortraitOS editor extension: widget labels shown whole on PortraitOS nodes in the Nodes 2.0 renderer.
// Nodes 2.0 of the pinned frontend (1.32.9) gives each widget's label a fixed 5rem column and cuts longer
// names ("subject_dis…", "focal_lengt…") whatever the node's width. The elements of PortraitOS nodes are
// marked (data-portraitos) and a style rule lets their label column take the label's width; the value
// beside it takes the rest. Frontends that lay labels out otherwise (1.58) and the classic canvas, which
// draws widgets itself, are not touched by the rule.
import { app } from "../../scripts/app.js";

const STYLE_ID = "portraitos-widget-labels";
const MARK = "portraitos";
const TYPES = new Set(); // the node types of this pack (category "PortraitOS…")

// 1.32.9: <div class="lg-node-widget"> … <div class="relative flex h-full min-w-0 w-20 items-center">
// <p class="lod-toggle flex-1 truncate …">label</p>; the value's column is `min-w-0 flex-1`
const CSS = `
[data-node-id][data-${MARK}] .lg-node-widget div.w-20:has(> p.truncate) {
  width: auto; flex: 0 0 auto; max-width: none;
}
[data-node-id][data-${MARK}] .lg-node-widget div.w-20 > p.truncate {
  overflow: visible; text-overflow: clip; white-space: nowrap;
}`;

function addStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  document.head.append(style);
}

function graphNode(id) {
  try {
    const graph = app.canvas?.graph ?? app.graph;
    return graph?.getNodeById?.(id) ?? graph?.getNodeById?.(Number(id)) ?? null;
  } catch {
    return null;
  }
}

/** Mark the node elements (Nodes 2.0's `[data-node-id]`) of this pack's types; unmark others (ids are
 * reused when another graph is loaded). */
function markNodes() {
  if (!TYPES.size) return;
  for (const el of document.querySelectorAll("[data-node-id]")) {
    if (!(el instanceof HTMLElement)) continue;
    const node = graphNode(el.dataset.nodeId);
    const ours = !!node && TYPES.has(node.type);
    if (ours && el.dataset[MARK] !== "1") el.dataset[MARK] = "1";
    else if (!ours && MARK in el.dataset) delete el.dataset[MARK];
  }
}

let pending = false;
function scheduleMark() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    try {
      markNodes();
    } catch {
      // a frontend without these elements: nothing to mark
    }
  });
}

app.registerExtension({
  name: "PortraitOS.WidgetLabels",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (String(nodeData?.category ?? "").startsWith("PortraitOS") && nodeData?.name) TYPES.add(nodeData.name);
  },
  async setup() {
    try {
      addStyle();
      new MutationObserver(scheduleMark).observe(document.body, { childList: true, subtree: true });
      scheduleMark();
    } catch {
      // no DOM to style (not a browser page): the labels stay as the frontend draws them
    }
  },
});
