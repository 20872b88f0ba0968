// The ComfyUI frontend's own node search, run outside the browser: the Fuse.js build and the
// NodeSearchService options are taken from the installed comfyui_frontend_package's JS, so a search
// here matches what the editor's search box finds.
//
//   node tools/frontend_search.mjs <frontend static/assets dir> <node defs .json> <query> [<query> …]
//
// node defs: [{"name": node id, "display_name": …}, …] (as /object_info gives them).
// Prints one JSON object: {query: [node ids found, in Fuse's order]}.
import fs from "fs";
import os from "os";
import path from "path";
import { pathToFileURL } from "url";

const [assets, defsPath, ...queries] = process.argv.slice(2);
const files = fs.readdirSync(assets).filter((f) => f.endsWith(".js"));
const main = files.map((f) => [f, fs.readFileSync(path.join(assets, f), "utf8")]).find(([, s]) => s.includes("class NodeSearchService") || s.includes("NodeSearchService=class"));
if (!main) throw new Error(`no NodeSearchService in ${assets}`);
const src = main[1];
const opts = src.match(/nodeFuseSearch=new FuseSearch\(\w+,\{fuseOptions:(\{[^}]*\})/);
// the Fuse class: imported "as Fuse" (1.3x), or bound to whatever name FuseSearch constructs (1.5x)
let imp = src.match(/import\{[^}]*?\b([\w$]+) as Fuse\b[^}]*\}from"\.\/([^"]+)"/);
if (!imp) {
  const local = src.match(/this\.fuse=new ([\w$]+)\(/)?.[1];
  const re = new RegExp(`import\\{([^}]*)\\}from"\\./([^"]+)"`, "g");
  for (const m of local ? src.matchAll(re) : []) {
    const bound = m[1].split(",").map((part) => part.trim().split(" as ")).find(([, as]) => as === local);
    if (bound) imp = [m[0], bound[0], m[2]];
  }
}
if (!opts || !imp) throw new Error("the frontend's node search options or Fuse import were not found");
const fuseOptions = new Function(`return ${opts[1]}`)();

// the chunk imports "vue" by a bare name (an import map in the browser): give it inert stand-ins
const work = fs.mkdtempSync(path.join(os.tmpdir(), "fe-search-"));
// the chunk with its sibling chunks (newer builds split Fuse's chunk further), as ES modules
for (const f of files) fs.copyFileSync(path.join(assets, f), path.join(work, f));
fs.writeFileSync(path.join(work, "package.json"), '{"type":"module"}');
const vueNames = new Set();
for (const m of files.flatMap((f) => [...fs.readFileSync(path.join(work, f), "utf8").matchAll(/import\{([^}]*)\}from"vue"/g)]))
  for (const part of m[1].split(",")) vueNames.add(part.split(" as ")[0].trim());
fs.mkdirSync(path.join(work, "node_modules", "vue"), { recursive: true });
fs.writeFileSync(path.join(work, "node_modules", "vue", "package.json"), '{"name":"vue","type":"module","main":"index.js"}');
const inert = "const f=function(){return new Proxy(function(){},{get:(t,k)=>k===Symbol.toPrimitive?()=>0:f(),apply:()=>f()})};\n";
fs.writeFileSync(
  path.join(work, "node_modules", "vue", "index.js"),
  inert + [...vueNames].map((n) => `export const ${n} = f();`).join("\n"),
);
// the browser globals the chunk touches while loading
Object.assign(globalThis, {
  window: globalThis,
  self: globalThis,
  location: { href: "http://localhost/" },
  document: { createElement: () => ({ style: {} }), addEventListener() {}, documentElement: { style: {} }, querySelector: () => null },
  Worker: class { postMessage() {} addEventListener() {} },
  addEventListener() {},
  postMessage() {},
});
if (!globalThis.navigator) globalThis.navigator = { userAgent: "node" };

try {
  const mod = await import(pathToFileURL(path.join(work, imp[2])).href);
  const Fuse = mod[imp[1]];
  const defs = JSON.parse(fs.readFileSync(defsPath, "utf8"));
  const fuse = new Fuse(defs, fuseOptions, Fuse.createIndex(fuseOptions.keys, defs));
  const out = { _options: fuseOptions, _fuse_version: Fuse.version };
  for (const q of queries) out[q] = fuse.search(q).map((r) => r.item.name);
  console.log(JSON.stringify(out));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
