// PortraitOS lens maths for the editor: the thin-lens depth of field and the aperture outline, the same
// formulas as engine/lens/depth_of_field.py, optics.py and aperture.py (tests compare the numbers).
// Lengths: *Mm millimetres, *M metres, *Px pixels; Infinity stands for infinity. No imports: this
// module runs in the editor and under node.js.

// name -> [width mm, height mm]; the same keys and sizes as engine/lens/optics.py SENSORS
export const SENSORS = {
  "full frame 36x24": [36.0, 24.0],
  "APS-C 23.5x15.6": [23.5, 15.6],
  "Micro Four Thirds 17.3x13": [17.3, 13.0],
  "medium format 44x33": [44.0, 33.0],
};
export const DEFAULT_SENSOR = "full frame 36x24";
export const COC_DIAGONAL_DIVISOR = 1500.0;

export function sensorDiagonalMm(sensor) {
  const size = SENSORS[sensor];
  if (!size) throw new Error(`unknown sensor ${sensor}`);
  return Math.hypot(size[0], size[1]);
}

export function pixelsPerMm(heightPx, widthPx, sensor) {
  return Math.hypot(widthPx, heightPx) / sensorDiagonalMm(sensor);
}

export function acceptableCocMm(sensor = DEFAULT_SENSOR) {
  return sensorDiagonalMm(sensor) / COC_DIAGONAL_DIVISOR;
}

export function hyperfocalDistanceM(focalLengthMm, fNumber, cocMm) {
  const f = focalLengthMm;
  return ((f * f) / (fNumber * cocMm) + f) / 1000.0;
}

/** True when the lens can focus at this distance (farther than one focal length). */
export function canFocus(focalLengthMm, focusDistanceM) {
  return Number.isFinite(focusDistanceM) && focusDistanceM * 1000.0 > focalLengthMm;
}

/** {focusDistanceM, cocLimitMm, hyperfocalM, nearLimitM, farLimitM} or null when it cannot focus there. */
export function depthOfField(focalLengthMm, fNumber, focusDistanceM, sensor = DEFAULT_SENSOR, cocMm = null) {
  if (!(focalLengthMm > 0) || !(fNumber > 0) || !canFocus(focalLengthMm, focusDistanceM)) return null;
  const c = cocMm == null ? acceptableCocMm(sensor) : cocMm;
  const f = focalLengthMm;
  const s = focusDistanceM * 1000.0;
  const h = hyperfocalDistanceM(f, fNumber, c) * 1000.0;
  const near = (s * (h - f)) / (h + s - 2.0 * f);
  const far = s < h ? (s * (h - f)) / (h - s) : Infinity;
  return {
    focusDistanceM,
    cocLimitMm: c,
    hyperfocalM: h / 1000.0,
    nearLimitM: near / 1000.0,
    farLimitM: far / 1000.0,
  };
}

/** Unsigned blur diameter in pixels of a heightPx × widthPx output for a point at distanceM. */
export function cocPxAt(focalLengthMm, fNumber, focusDistanceM, distanceM, heightPx, widthPx, sensor = DEFAULT_SENSOR) {
  if (!canFocus(focalLengthMm, focusDistanceM)) return NaN;
  const f = focalLengthMm;
  const s = focusDistanceM * 1000.0;
  const apertureMm = f / fNumber;
  const imageDistanceMm = (f * s) / (s - f);
  const invZ = distanceM === Infinity ? 0.0 : 1.0 / (distanceM * 1000.0);
  const cocMm = apertureMm * imageDistanceMm * Math.abs(1.0 / s - invZ);
  return cocMm * pixelsPerMm(heightPx, widthPx, sensor);
}

// --- aperture outline, as engine/lens/aperture.py Aperture.boundary_radius ---------------------------

function shapeRadius(theta, blades, rotationDeg, curvature) {
  const n = blades;
  const rot = (rotationDeg * Math.PI) / 180;
  const seg = (2 * Math.PI) / n;
  let local = (theta - rot) % seg;
  if (local < 0) local += seg;
  local -= seg / 2;
  const poly = Math.cos(Math.PI / n) / Math.cos(local);
  return (1 - curvature) * poly + curvature;
}

/** Area of the unit shape, integrated on the same 4096 angles as the Python code. */
export function apertureUnitArea(blades, rotationDeg = 0, curvature = 0) {
  if (!blades) return Math.PI;
  const samples = 4096;
  let sum = 0;
  for (let i = 0; i < samples; i++) {
    const th = (2 * Math.PI * i) / samples;
    const r = shapeRadius(th, blades, rotationDeg, curvature);
    sum += r * r;
  }
  return 0.5 * (sum / samples) * 2 * Math.PI;
}

/** Distance from the centre to the aperture edge along theta (radians, counter-clockwise on screen),
 * for an aperture of the same area as the unit circle. blades 0 = circle. */
export function apertureBoundaryRadius(theta, blades, rotationDeg = 0, curvature = 0, unitArea = null) {
  if (!blades) return 1.0;
  const area = unitArea ?? apertureUnitArea(blades, rotationDeg, curvature);
  return shapeRadius(theta, blades, rotationDeg, curvature) * Math.sqrt(Math.PI / area);
}

/** Outline points [[x, y], ...] of the aperture (screen coordinates: y down) around the origin. */
export function apertureOutline(blades, rotationDeg, curvature, radius, samples = 720) {
  const area = apertureUnitArea(blades, rotationDeg, curvature);
  const pts = [];
  for (let i = 0; i < samples; i++) {
    const th = (2 * Math.PI * i) / samples;
    const r = radius * apertureBoundaryRadius(th, blades, rotationDeg, curvature, area);
    pts.push([r * Math.cos(th), -r * Math.sin(th)]);
  }
  return pts;
}

/** "x,y" in 0..1 of the image -> [x, y], or null for empty / unreadable text. */
export function parseFocusPoint(text) {
  if (typeof text !== "string" || !text.trim()) return null;
  const parts = text.split(",").map((s) => Number(s.trim()));
  if (parts.length !== 2 || parts.some((v) => !Number.isFinite(v) || v < 0 || v > 1)) return null;
  return parts;
}

export function formatFocusPoint(x, y) {
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return `${clamp(x).toFixed(3)},${clamp(y).toFixed(3)}`;
}
