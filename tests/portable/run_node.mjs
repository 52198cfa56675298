// Runs tests/portable/test_client.py under real MicroPython or Pyodide in Node.js, from the
// pinned npm packages: `node tests/portable/run_node.mjs mpy|py [name-filter]`.
// Prints one PASS/FAIL line per test and PORTABLE-SUMMARY; exits non-zero on any failure.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const runtime = process.argv[2];
const only = process.argv[3] || "";

let failed = null;
const print = (line) => {
  const summary = /PORTABLE-SUMMARY passed=\d+ failed=(\d+)/.exec(line);
  if (summary) failed = Number(summary[1]);
  console.log(line);
};

async function load() {
  if (runtime === "mpy") {
    const { loadMicroPython } = await import(
      join(root, "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs")
    );
    return loadMicroPython({ stdout: print, stderr: print, linebuffer: true, heapsize: 64 * 1024 * 1024 });
  }
  if (runtime === "py") {
    const { loadPyodide } = await import(join(root, "node_modules/pyodide/pyodide.mjs"));
    return loadPyodide({ stdout: print, stderr: print });
  }
  throw new Error(`runtime must be mpy or py, got ${runtime}`);
}

function copyInto(py, from, to) {
  py.FS.mkdirTree ? py.FS.mkdirTree(to) : to.split("/").reduce((path, part) => {
    const next = path + "/" + part;
    if (part) { try { py.FS.mkdir(next); } catch (e) { /* exists */ } }
    return next;
  }, "");
  for (const name of readdirSync(from)) {
    if (name.endsWith(".py")) py.FS.writeFile(`${to}/${name}`, readFileSync(join(from, name), "utf8"));
  }
}

const py = await load();
copyInto(py, join(root, "frontend/authfetch"), "/portable/authfetch");
copyInto(py, here, "/portable");
try {
  await py.runPythonAsync(`
import sys
sys.path.insert(0, "/portable")
import runner, test_client
await runner.run_all(test_client, ${JSON.stringify(only)})
`);
} catch (error) {
  console.log(`ERROR ${error.message}`);
}
process.exit(failed === 0 ? 0 : 1);
