// authfetch where: the interpreter the one tag loads unless data-interpreter names one, by how
// the tag was installed. Beside it in make dist's embed/ folder; or, in the npm package, as the
// package's own npm dependencies: one folder up inside node_modules/ (where npm and yarn put
// a dependency), and anywhere else (a CDN that mirrors npm: /npm/authfetch@0.3.0/authfetch.js)
// at /npm/<name>@<version>/, the version the package pins, never whatever is newest.
//
// make dist writes the npm copy's LAYOUT and PINS (scripts/make_dist.py, from package.json);
// the source's are the embed folder's.

export const LAYOUT = /* layout */"embed"/* end */;
export const PINS = /* pins */{}/* end */;
const INTERPRETERS = {
  mpy: { folder: "micropython", npm: "@micropython/micropython-webassembly-pyscript", file: "micropython.mjs" },
  py: { folder: "pyodide", npm: "pyodide", file: "pyodide.mjs" },
};
export const NPM_NAMES = Object.values(INTERPRETERS).map((i) => i.npm);

export function interpreterPath(runtime, here, { layout = LAYOUT, pins = PINS } = {}) {
  // runtime: "mpy" or "py"; here: the URL of the tag's folder. A path relative to here.
  const { folder, npm, file } = INTERPRETERS[runtime];
  if (layout !== "npm") return `${folder}/${file}`;
  if (new URL(here).pathname.includes("/node_modules/")) return `../${npm}/${file}`;
  if (!pins[npm]) throw new Error(`authfetch: this package names no version of ${npm} (a build without make dist?)`);
  return `../${npm}@${pins[npm]}/${file}`;
}
