// PortraitOS editor extension: previews and read-outs of nodes ComfyUI answers from its cache.
// A node whose inputs did not change since an earlier run is not executed again: ComfyUI sends only
// "execution_cached" with its id, so a page that did not make that earlier run (a second tab, a reload)
// would show no depth preview, matte or read-out on DepthEstimate, LightingTint, LensBokeh... Their last
// output is in the server's /history: it is shown as the frontend shows any result (an "executed" event).
import { api } from "../../scripts/api.js";
import { app } from "../../scripts/app.js";

const OURS = new Set(); // the pack's node types
const HISTORY_ITEMS = 64;

function nodeById(id) {
  const graph = app.rootGraph ?? app.graph;
  return graph?.getNodeById?.(Number(id)) ?? graph?.getNodeById?.(id) ?? null;
}

/** The newest /history output of node ``id`` made by the same node type (its cached result). */
function lastOutput(history, id, type) {
  const entries = Object.values(history ?? {});
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    const output = e?.outputs?.[id];
    const prompt = Array.isArray(e?.prompt) ? e.prompt[2] : null;
    if (output && prompt?.[id]?.class_type === type) return output;
  }
  return null;
}

function dispatch(detail) {
  if (typeof api.dispatchCustomEvent === "function") api.dispatchCustomEvent("executed", detail);
  else api.dispatchEvent(new CustomEvent("executed", { detail }));
}

api.addEventListener("execution_cached", async (event) => {
  const { nodes, prompt_id: promptId } = event.detail ?? {};
  if (!Array.isArray(nodes) || !nodes.length) return;
  const ours = nodes.map((id) => [String(id), nodeById(id)]).filter(([, n]) => n && OURS.has(n.type));
  if (!ours.length) return;
  let history;
  try {
    const res = await api.fetchApi(`/history?max_items=${HISTORY_ITEMS}`);
    history = await res.json();
  } catch (e) {
    console.warn("PortraitOS: could not read /history for cached nodes", e);
    return;
  }
  for (const [id, node] of ours) {
    const output = lastOutput(history, id, node.type);
    if (output) dispatch({ node: id, display_node: id, output, prompt_id: promptId });
  }
});

app.registerExtension({
  name: "PortraitOS.CachedOutputs",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (String(nodeData.category ?? "").startsWith("PortraitOS")) OURS.add(nodeData.name);
  },
});
