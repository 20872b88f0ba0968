// PortraitOS editor extension: LensBokeh's lens made visible before the graph runs.
// A panel on the node (a DOM widget, shown by the classic canvas and by Nodes 2.0 alike) draws the
// aperture from the blade widgets, reads out the depth of field (near/far limits of acceptable
// sharpness, hyperfocal distance, blur of the background at 3 m, 10 m and infinity in pixels of the
// output), and shows the picture LensBokeh works on: clicking it sets the `focus_point` input and marks
// the point. The maths lives in lens_math.js (the same formulas as engine/lens/depth_of_field.py).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import * as L from "./lens_math.js";
import { TEMPLATE_ORDER } from "./template_order.js";

const NODE = "LensBokeh";
const PANEL = "portraitos_lens";
const APERTURE_PX = 76;
const PANEL_PX = 400; // the aperture and read-out on top, the picture below fills the rest
const PICKER_MIN_PX = 180; // tall enough to aim at an eye in either renderer
const LAST_RUN = "portraitos_last_run"; // node property: the last run's read-out, saved with the workflow
const AUTO_TITLE = /^Lens Bokeh · [0-9.]+ mm f\/[0-9.]+$/; // a title the templates set from the lens
const ASSUMED_SIZE = [1536, 1024]; // [height, width] until the picture is known
const WATCHED = ["focal_length_mm", "f_number", "focus_distance_m", "sensor", "aperture_blades",
  "blade_rotation_deg", "blade_curvature", "focus_point", "lens_profile", "preview"];
const DISCS_ROUTE = "/portraitos/lens_profile_discs"; // services/lens_panel.py: the profile's discs
const DISC_CELL_PX = 38; // each of the two discs (centre, corner) drawn below the aperture
// the folder this pack is served from (/extensions/<folder>/portraitos.js): ComfyUI's name for the pack
// in the template browser
const PACK_FOLDER = decodeURIComponent(new URL(import.meta.url).pathname.split("/").slice(-2, -1)[0] ?? "");

/** This pack's templates in the browser in TEMPLATE_ORDER (the default look first): ComfyUI lists a
 * pack's workflows in the order its server finds the files, and the browser keeps that order. */
export function orderTemplates(lists) {
  const rank = new Map(TEMPLATE_ORDER.map((name, i) => [name, i]));
  for (const [pack, names] of Object.entries(lists ?? {})) {
    if (pack !== PACK_FOLDER || !Array.isArray(names)) continue;
    names.sort((a, b) => (rank.get(a) ?? rank.size) - (rank.get(b) ?? rank.size) || String(a).localeCompare(String(b)));
  }
  return lists;
}

if (typeof api.getWorkflowTemplates === "function" && !api.getWorkflowTemplates.portraitosOrdered) {
  const listTemplates = api.getWorkflowTemplates;
  const ordered = async function (...args) {
    return orderTemplates(await listTemplates.apply(this, args));
  };
  ordered.portraitosOrdered = true;
  api.getWorkflowTemplates = ordered;
}

function widget(node, name) {
  return node.widgets?.find((w) => w.name === name);
}

function value(node, name, fallback) {
  const v = widget(node, name)?.value;
  return v === undefined || v === null || v === "" ? fallback : v;
}

export function formatMetres(m) {
  if (!Number.isFinite(m)) return "∞";
  if (m < 1) return `${m.toFixed(3)} m`;
  if (m < 10) return `${m.toFixed(2)} m`;
  if (m < 100) return `${m.toFixed(1)} m`;
  return `${m.toFixed(0)} m`;
}

/** Whether an input's value comes through a link rather than from its widget. */
function linked(node, name) {
  return node.inputs?.find((i) => i.name === name)?.link != null;
}

/** The numbers the panel shows, at full precision (the page exposes them for checks). */
/** The widget values a run used, to tell what changed since (`WATCHED` names). */
function watchedValues(node) {
  return Object.fromEntries(WATCHED.map((name) => [name, value(node, name, "")]));
}

/** Names of the watched widgets whose value differs from the last run's. */
export function pendingChanges(node, lastRun) {
  if (!lastRun?.inputs) return [];
  const now = watchedValues(node);
  return WATCHED.filter((name) => name in lastRun.inputs && String(now[name]) !== String(lastRun.inputs[name]));
}

export function lensReadout(node, sizePx, lastFocus) {
  const fromLinks = ["focal_length_mm", "f_number", "sensor"].filter((name) => linked(node, name));
  const f = Number(value(node, "focal_length_mm", 85));
  const n = Number(value(node, "f_number", 1.8));
  const sensor = value(node, "sensor", L.DEFAULT_SENSOR);
  const manual = linked(node, "focus_distance_m") ? 0 : Number(value(node, "focus_distance_m", 0));
  const [h, w] = sizePx ?? ASSUMED_SIZE;
  let focusM = null;
  let how = "";
  if (manual > 0) {
    focusM = manual;
    how = "manual";
  } else if (lastFocus && !(lastFocus.how === "focus point" && !value(node, "focus_point", ""))) {
    // auto focus, or a distance from a link: what the last run used (a cleared focus point is not)
    focusM = lastFocus.distanceM;
    how = `last run: ${lastFocus.how}`;
  }
  const out = { focalLengthMm: f, fNumber: n, sensor, heightPx: h, widthPx: w, sizeKnown: !!sizePx, focusM, how, fromLinks };
  if (focusM == null || !(sensor in L.SENSORS)) return out;
  const dof = L.depthOfField(f, n, focusM, sensor);
  if (!dof) {
    out.error = `focus ${formatMetres(focusM)} is closer than the focal length`;
    return out;
  }
  Object.assign(out, dof);
  out.cocPx = {};
  for (const [key, d] of [["3", 3], ["10", 10], ["inf", Infinity]]) {
    out.cocPx[key] = L.cocPxAt(f, n, focusM, d, h, w, sensor);
  }
  return out;
}

function readoutLines(r, pending) {
  const lines = [["lens", `${r.focalLengthMm} mm f/${r.fNumber}`]];
  if (r.profile && r.profile !== "ideal") {
    lines.push(["profile", `profile ${r.profile}: discs at the centre and a corner (its own blades)`]);
  }
  if (pending?.length) lines.push(["pending", `changed since the last run: ${pending.join(", ")} (applies on the next run)`]);
  if (r.fromLinks.length) lines.push(["links", `${r.fromLinks.join(", ")} linked: widget values shown`]);
  if (r.focusM == null) {
    lines.push(["focus", "focus: auto (set when it runs)"]);
    return lines;
  }
  lines.push(["focus", `focus ${formatMetres(r.focusM)} (${r.how})`]);
  if (r.error) {
    lines.push(["error", r.error]);
    return lines;
  }
  lines.push(["sharp", `sharp ${formatMetres(r.nearLimitM)} – ${formatMetres(r.farLimitM)}`]);
  lines.push(["hyperfocal", `hyperfocal ${formatMetres(r.hyperfocalM)}`]);
  const c = r.cocPx;
  lines.push(["blur", `blur @3 m ${c["3"].toFixed(1)} · @10 m ${c["10"].toFixed(1)} · @∞ ${c.inf.toFixed(1)} px`]);
  const size = `${r.widthPx}×${r.heightPx}`;
  lines.push(["size", r.sizeKnown ? `for ${size} px` : `for ${size} px (assumed until a picture is known)`]);
  return lines;
}

function drawAperture(canvas, node) {
  const ctx = canvas.getContext("2d");
  const s = canvas.width;
  ctx.clearRect(0, 0, s, s);
  ctx.fillStyle = "#111";
  ctx.fillRect(0, 0, s, s);
  const blades = Number(value(node, "aperture_blades", 0));
  const rot = Number(value(node, "blade_rotation_deg", 0));
  const curv = Number(value(node, "blade_curvature", 0));
  if (blades !== 0 && (blades < 3 || blades > 16)) return;
  // scale so the largest extent of the outline fits
  const pts = L.apertureOutline(blades, rot, curv, 1.0);
  const extent = Math.max(...pts.map(([x, y]) => Math.hypot(x, y)));
  const r = (s * 0.44) / extent;
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i ? ctx.lineTo(s / 2 + r * x, s / 2 + r * y) : ctx.moveTo(s / 2 + r * x, s / 2 + r * y)));
  ctx.closePath();
  ctx.fillStyle = "#f2d680";
  ctx.fill();
}

/** The query the discs route answers for the node's widgets now (the discs follow them). */
function discsQuery(node, r) {
  return {
    profile: String(value(node, "lens_profile", "ideal")),
    f_number: String(r.fNumber),
    focal_length_mm: String(r.focalLengthMm),
    focus_distance_m: String(r.focusM ?? 0),
    sensor: String(r.sensor),
    aperture_blades: String(value(node, "aperture_blades", 0)),
    blade_rotation_deg: String(value(node, "blade_rotation_deg", 0)),
    blade_curvature: String(value(node, "blade_curvature", 0)),
  };
}

/** Ask the server for the profile's discs when the widgets that shape them changed. */
function updateDiscs(node, state) {
  const query = discsQuery(node, state.readout);
  const key = JSON.stringify(query);
  if (key === state.discsKey) return;
  state.discsKey = key;
  api.fetchApi(`${DISCS_ROUTE}?${new URLSearchParams(query)}`)
    .then((res) => (res.ok ? res.json() : null))
    .then((payload) => {
      if (state.discsKey !== key) return; // the widgets changed meanwhile: a newer answer comes
      state.discs = payload?.discs ? { ...payload, query } : null;
      drawDiscs(state);
    })
    .catch(() => {
      if (state.discsKey === key) state.discs = null;
      drawDiscs(state);
    });
}

/** The profile's disc of a background point at the frame centre (left) and at a corner (right), as the
 * server computed them (profile_discs), each scaled to its cell. */
function drawDiscs(state) {
  const c = state.discCanvas;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#111";
  ctx.fillRect(0, 0, c.width, c.height);
  const discs = state.discs?.discs;
  if (!discs) return;
  const k = Math.max(discs.centre.size, discs.corner.size);
  ["centre", "corner"].forEach((label, i) => {
    const d = discs[label];
    const img = ctx.createImageData(d.size, d.size);
    for (let p = 0; p < d.alpha.length; p++) {
      img.data.set([242, 214, 128, d.alpha[p]], 4 * p);
    }
    const tmp = document.createElement("canvas");
    tmp.width = d.size;
    tmp.height = d.size;
    tmp.getContext("2d").putImageData(img, 0, 0);
    const side = (DISC_CELL_PX * d.size) / k; // both discs at one scale: their sizes compare
    const x0 = i * DISC_CELL_PX + (DISC_CELL_PX - side) / 2;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(tmp, x0, (c.height - side) / 2, side, side);
  });
}

function fitRect(cw, ch, iw, ih) {
  const k = Math.min(cw / iw, ch / ih);
  const w = iw * k;
  const h = ih * k;
  return [(cw - w) / 2, (ch - h) / 2, w, h];
}

function drawPicker(state, node) {
  const c = state.picker;
  // draw at the size the picture is shown at (the panel's layout decides it)
  if (c.clientWidth > 0 && c.clientHeight > 0 && (c.width !== c.clientWidth || c.height !== c.clientHeight)) {
    c.width = c.clientWidth;
    c.height = c.clientHeight;
  }
  const ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.fillStyle = "#111";
  ctx.fillRect(0, 0, c.width, c.height);
  const img = state.image;
  if (!img || !img.complete || !img.naturalWidth) {
    state.rect = null;
    ctx.fillStyle = "#888";
    ctx.font = "11px sans-serif";
    ctx.textAlign = "center";
    ctx.fillText("connect an image (or run) to pick the focus", c.width / 2, c.height / 2);
    return;
  }
  state.rect = fitRect(c.width, c.height, img.naturalWidth, img.naturalHeight);
  const [x, y, w, h] = state.rect;
  ctx.drawImage(img, x, y, w, h);
  const p = L.parseFocusPoint(value(node, "focus_point", ""));
  if (!p) return;
  const px = x + p[0] * w;
  const py = y + p[1] * h;
  ctx.strokeStyle = "#000";
  ctx.lineWidth = 3;
  for (const [col, lw] of [["#000", 3], ["#4cf", 1.5]]) {
    ctx.strokeStyle = col;
    ctx.lineWidth = lw;
    ctx.beginPath();
    ctx.arc(px, py, 7, 0, 2 * Math.PI);
    ctx.moveTo(px - 12, py);
    ctx.lineTo(px - 4, py);
    ctx.moveTo(px + 4, py);
    ctx.lineTo(px + 12, py);
    ctx.moveTo(px, py - 12);
    ctx.lineTo(px, py - 4);
    ctx.moveTo(px, py + 4);
    ctx.lineTo(px, py + 12);
    ctx.stroke();
  }
}

function viewUrl(ref) {
  const q = new URLSearchParams({ filename: ref.filename, type: ref.type ?? "output", subfolder: ref.subfolder ?? "" });
  return api.apiURL(`/view?${q}`);
}

/** The node linked to input `slot`, or null. A node that is not in a graph yet (while it is being
 * created or configured) has none: newer frontends throw there instead of returning null. */
function upstreamNode(node, slot) {
  if (slot < 0 || !node.graph || node.inputs?.[slot]?.link == null) return null;
  try {
    return node.getInputNode(slot) ?? null;
  } catch {
    return null;
  }
}

/** The picture the panel shows: the last result (after), unless the artist asked for the input
 * (before) or there is no result yet; the input is what feeds the `image` input. */
function pictureUrl(node, state) {
  if (state.outputUrl && state.view !== "before") return state.outputUrl;
  const slot = node.inputs?.findIndex((i) => i.name === "image") ?? -1;
  const src = upstreamNode(node, slot);
  if (!src) return null;
  if (src.portraitosLens?.outputUrl) return src.portraitosLens.outputUrl; // a lens before this one
  if (src.imgs?.length && src.imgs[0].src) return src.imgs[0].src;
  const name = widget(src, "image")?.value;
  if (typeof name !== "string" || !name) return null;
  const m = name.match(/^(.*?)(?: \[(input|output|temp)\])?$/);
  const path = m[1];
  const cut = path.lastIndexOf("/");
  return viewUrl({
    filename: cut >= 0 ? path.slice(cut + 1) : path,
    subfolder: cut >= 0 ? path.slice(0, cut) : "",
    type: m[2] ?? "input",
  });
}

const CANVAS_PREVIEW = "$$canvas-image-preview"; // the classic canvas's image preview widget
const HIDDEN_PREVIEW_CSS = "portraitos-hidden-preview";

/** The node's own preview under the panel repeats the panel's picture: it is hidden, unless it shows
 * more than the panel (the in-focus overlay). Each renderer keeps it another way: Nodes 2.0 from 1.58
 * honours `hideOutputImages`; the classic canvas (every release) draws the node's `imgs`, which read as
 * empty while hidden (see keepOwnPreview); Nodes 2.0 before 1.58 shows the output store's images in an
 * `.image-preview` element, hidden by a style rule on the node holding a panel marked so. */
function syncOwnPreview(node) {
  const hide = !String(value(node, "preview", "result")).includes("overlay");
  node.hideOutputImages = hide;
  const root = node.portraitosLens?.root;
  if (root) root.dataset.hideOutput = hide ? "1" : "0";
  if (hide && node.widgets) {
    const i = node.widgets.findIndex((w) => w.name === CANVAS_PREVIEW);
    if (i >= 0) {
      node.widgets[i].onRemove?.();
      node.widgets.splice(i, 1);
      node.setDirtyCanvas?.(true, true);
    }
  }
}

/** `node.imgs` (the pictures the classic canvas draws under a node) reads as empty while the node's
 * own preview is hidden; what the frontend loads into it is kept for when it is shown again. */
function keepOwnPreview(node) {
  let imgs = node.imgs;
  Object.defineProperty(node, "imgs", {
    configurable: true,
    enumerable: true,
    get: () => (node.hideOutputImages ? undefined : imgs),
    set: (v) => {
      imgs = v;
    },
  });
}

function addHiddenPreviewStyle() {
  if (document.getElementById(HIDDEN_PREVIEW_CSS)) return;
  const style = document.createElement("style");
  style.id = HIDDEN_PREVIEW_CSS;
  style.textContent = '[data-node-id]:has(.portraitos-lens[data-hide-output="1"]) .image-preview { display: none !important; }';
  document.head.append(style);
}

function refresh(node) {
  const state = node.portraitosLens;
  if (!state) return;
  syncOwnPreview(node);
  const url = pictureUrl(node, state);
  if (url !== state.imageUrl) {
    state.imageUrl = url;
    state.image = null;
    if (url) {
      const img = new Image();
      img.onload = () => {
        if (state.imageUrl === url) refresh(node);
      };
      img.onerror = () => {
        if (state.imageUrl === url && url === state.outputUrl) {
          state.outputUrl = null; // a result the server no longer has (restarted): show the input again
          refresh(node);
        }
      };
      img.src = url;
      state.image = img;
    }
  }
  const img = state.image;
  const size = img?.complete && img.naturalWidth ? [img.naturalHeight, img.naturalWidth] : state.outputSize;
  state.readout = lensReadout(node, size, state.lastFocus);
  state.readout.pending = pendingChanges(node, state.lastRun);
  state.readout.profile = String(value(node, "lens_profile", "ideal"));
  updateDiscs(node, state);
  syncTitle(node, state.readout);
  const lines = readoutLines(state.readout, state.readout.pending);
  state.text.replaceChildren(
    ...lines.map(([key, text]) => {
      const div = document.createElement("div");
      div.dataset.key = key;
      div.textContent = text;
      return div;
    })
  );
  state.warn.replaceChildren(
    ...state.warnings.map((w) => {
      const div = document.createElement("div");
      div.textContent = `⚠ ${w}`;
      return div;
    })
  );
  state.warn.style.display = state.warnings.length ? "" : "none";
  drawAperture(state.aperture, node);
  drawPicker(state, node);
  state.compare.style.display = state.outputUrl ? "" : "none";
  state.compare.textContent = state.view === "before" ? "show result (after)" : "show input (before)";
}

/** A title the templates set from the lens ("Lens Bokeh · 85 mm f/1.8") follows the widgets; a title
 * the artist wrote is left alone. */
function syncTitle(node, r) {
  if (typeof node.title !== "string" || !AUTO_TITLE.test(node.title)) return;
  const title = `Lens Bokeh · ${r.focalLengthMm} mm f/${r.fNumber}`;
  if (node.title !== title) {
    node.title = title;
    node.setDirtyCanvas?.(true, true);
  }
}

/** The last run's read-out into the node's properties (saved with the workflow, so it survives a tab
 * switch and a reload), and back. */
function saveLastRun(node, state) {
  node.properties ??= {};
  node.properties[LAST_RUN] = {
    focus: state.lastFocus ?? null,
    outputUrl: state.outputUrl ?? null,
    outputSize: state.outputSize ?? null,
    inputs: state.lastRun?.inputs ?? null,
    warnings: state.warnings,
  };
}

function restoreLastRun(node, state) {
  const saved = node.properties?.[LAST_RUN];
  if (!saved || typeof saved !== "object") return;
  state.lastFocus = saved.focus ?? state.lastFocus;
  state.outputUrl = saved.outputUrl ?? state.outputUrl;
  state.outputSize = saved.outputSize ?? state.outputSize;
  if (saved.inputs) state.lastRun = { inputs: saved.inputs };
  if (Array.isArray(saved.warnings)) state.warnings = saved.warnings.map(String);
}

function setFocusPoint(node, text) {
  const w = widget(node, "focus_point");
  if (!w) return;
  w.value = text;
  w.callback?.(text);
  node.setDirtyCanvas?.(true, true);
  refresh(node);
}

function buildPanel(node) {
  const root = document.createElement("div");
  root.className = "portraitos-lens";
  root.style.cssText = `display:flex;flex-direction:column;gap:4px;height:${PANEL_PX}px;box-sizing:border-box;` +
    "font:11px/1.35 sans-serif;color:#ccc;overflow:hidden";
  const top = document.createElement("div");
  top.style.cssText = "display:flex;gap:8px;align-items:flex-start";
  const aperture = document.createElement("canvas");
  aperture.className = "portraitos-aperture";
  aperture.width = APERTURE_PX;
  aperture.height = APERTURE_PX;
  aperture.style.cssText = `width:${APERTURE_PX}px;height:${APERTURE_PX}px;flex:none;border-radius:4px`;
  const text = document.createElement("div");
  text.className = "portraitos-readout";
  text.style.cssText = "min-width:0;overflow-wrap:anywhere";
  const compare = document.createElement("button");
  compare.className = "portraitos-compare";
  compare.type = "button";
  compare.style.cssText = "align-self:flex-start;flex:none;font:11px sans-serif;padding:1px 6px;cursor:pointer;" +
    "color:#ddd;background:#333;border:1px solid #555;border-radius:3px";
  compare.title = "Switch the picture between the last result and the input it was made from";
  const side = document.createElement("div");
  side.style.cssText = "display:flex;flex-direction:column;gap:4px;min-width:0";
  side.append(text, compare);
  const discCanvas = document.createElement("canvas");
  discCanvas.className = "portraitos-discs";
  discCanvas.width = 2 * DISC_CELL_PX;
  discCanvas.height = DISC_CELL_PX;
  discCanvas.style.cssText = `width:${2 * DISC_CELL_PX}px;height:${DISC_CELL_PX}px;border-radius:4px`;
  discCanvas.title = "The lens profile's disc of a background point: at the frame centre (left), at a corner (right)";
  const lens = document.createElement("div");
  lens.style.cssText = "display:flex;flex-direction:column;gap:4px;flex:none;align-items:center";
  lens.append(aperture, discCanvas);
  top.append(lens, side);
  const picker = document.createElement("canvas");
  picker.className = "portraitos-picker";
  picker.width = 320;
  picker.height = 160;
  picker.style.cssText = `width:100%;flex:1 1 0;min-height:${PICKER_MIN_PX}px;cursor:crosshair;border-radius:4px`;
  picker.title = "Click to focus at the depth under this point (sets focus_point; right-click clears it)";
  // what the last run warned about (a depth made for another lens, a bounded blur…), shown on the node
  const warn = document.createElement("div");
  warn.className = "portraitos-warnings";
  warn.style.cssText = "flex:none;max-height:5.5em;overflow:auto;overflow-wrap:anywhere;color:#f0b429";
  const state = { root, aperture, text, picker, compare, discCanvas, warn, warnings: [], image: null, imageUrl: null,
    outputUrl: null, rect: null, view: "after", discs: null, discsKey: null };
  node.portraitosLens = state;
  for (const type of ["pointerdown", "mousedown"]) compare.addEventListener(type, (e) => e.stopPropagation());
  compare.addEventListener("click", (e) => {
    e.stopPropagation();
    state.view = state.view === "before" ? "after" : "before";
    refresh(node);
  });
  picker.addEventListener("pointerdown", (e) => {
    if (!state.rect) return;
    e.stopPropagation();
    e.preventDefault();
    if (e.button === 2) {
      setFocusPoint(node, "");
      return;
    }
    if (e.button !== 0) return;
    const box = picker.getBoundingClientRect();
    const cx = ((e.clientX - box.left) / box.width) * picker.width;
    const cy = ((e.clientY - box.top) / box.height) * picker.height;
    const [x, y, w, h] = state.rect;
    const u = (cx - x) / w;
    const v = (cy - y) / h;
    if (u < 0 || u > 1 || v < 0 || v > 1) return;
    setFocusPoint(node, L.formatFocusPoint(u, v));
  });
  picker.addEventListener("contextmenu", (e) => {
    if (state.rect) e.preventDefault();
  });
  root.append(top, warn, picker);
  new ResizeObserver(() => drawPicker(state, node)).observe(picker);
  return root;
}

/** The warnings of a run's UI output (``portraitos: [{warnings: [...]}]``, services/readout.py). */
function runWarnings(message) {
  const entry = Array.isArray(message?.portraitos) ? message.portraitos[0] : message?.portraitos;
  return Array.isArray(entry?.warnings) ? entry.warnings.map(String) : [];
}

function parseLastFocus(message) {
  const lines = message?.text;
  const text = Array.isArray(lines) ? lines.join(" ") : String(lines ?? "");
  const m = text.match(/([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?) m \(([^)]*)\)/);
  return m ? { distanceM: Number(m[1]), how: m[2] } : null;
}

app.registerExtension({
  name: "PortraitOS.LensPanel",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== NODE) return;

    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated?.apply(this, arguments);
      const node = this;
      addHiddenPreviewStyle();
      keepOwnPreview(node);
      const panel = buildPanel(node);
      node.addDOMWidget(PANEL, "portraitos_lens", panel, {
        serialize: false,
        hideOnZoom: false,
        getValue: () => "",
        setValue: () => {},
        getMinHeight: () => PANEL_PX,
        getMaxHeight: () => PANEL_PX,
      });
      for (const name of WATCHED) {
        const w = widget(node, name);
        if (!w) continue;
        const cb = w.callback;
        w.callback = function () {
          const out = cb?.apply(this, arguments);
          refresh(node);
          return out;
        };
      }
      // the upstream picture can change without an event on this node (another image chosen upstream)
      node.portraitosLens.timer = setInterval(() => {
        if (node.portraitosLens && pictureUrl(node, node.portraitosLens) !== node.portraitosLens.imageUrl) {
          refresh(node);
        }
      }, 1000);
      const [w, h] = node.size;
      node.setSize([Math.max(w, 340), h]);
      refresh(node);
      return r;
    };

    const onRemoved = nodeType.prototype.onRemoved;
    nodeType.prototype.onRemoved = function () {
      clearInterval(this.portraitosLens?.timer);
      return onRemoved?.apply(this, arguments);
    };

    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const r = onConfigure?.apply(this, arguments);
      if (this.portraitosLens) restoreLastRun(this, this.portraitosLens);
      refresh(this);
      return r;
    };

    const onConnectionsChange = nodeType.prototype.onConnectionsChange;
    nodeType.prototype.onConnectionsChange = function () {
      const r = onConnectionsChange?.apply(this, arguments);
      refresh(this);
      return r;
    };

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const state = this.portraitosLens;
      if (!state) return;
      state.lastFocus = parseLastFocus(message) ?? state.lastFocus;
      state.warnings = runWarnings(message);
      state.lastRun = { inputs: watchedValues(this) };
      const images = message?.images;
      if (Array.isArray(images) && images.length) {
        state.outputUrl = viewUrl(images[0]);
        state.view = "after"; // a new result is shown
      }
      saveLastRun(this, state);
      refresh(this);
    };
  },
});
