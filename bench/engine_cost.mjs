// engine.js's own cost per request, one revision against another, in one Node.js process:
//
//   git show REV:frontend/authfetch/engine.js > /tmp/a/engine.js   (and wire.js beside it)
//   node --disable-warning=MODULE_TYPELESS_PACKAGE_JSON bench/engine_cost.mjs /tmp/a frontend/authfetch
//
// A fetch that answers 200 at once, rounds of 2,000 GETs through each engine in turn (the order
// swapped every round), 10 warm-up rounds dropped: microseconds per request, the median of 50.
// No browser, no interpreter, no network: what is left is the engine's own work (and the
// Response objects it is handed), steadier than a page's wall time on a 2-core machine.
import { resolve } from "node:path";

const [first, second] = process.argv.slice(2).map((folder) => resolve(folder));
if (!first || !second) throw new Error("usage: node bench/engine_cost.mjs FOLDER_A FOLDER_B (each with engine.js and wire.js)");

const PROFILE = JSON.stringify({ refreshOn: [401], csrfCookie: "csrf", csrfHeader: "X-CSRF-Token", headers: [], bearer: false });
const FLAGS = 1 | 2 | 4 | 8; // credentialed, coordinated, recallable, paced
const ROUNDS = 60;
const WARM_UP = 10;
const PER_ROUND = 2000;

async function side(folder) {
  const module = await import(`${folder}/engine.js`);
  const fetch = () => Promise.resolve(new Response(null, { status: 200 }));
  const engine = module.createEngine({ maxInFlight: null, pacedOrigin: "https://app.test" }, { fetch, connections: null, readCookie: () => null });
  engine.listen(() => {});
  // The engine of 56a7559 numbered profiles itself (profile(text)); later ones take the caller's number.
  const numbered = engine.profile.length >= 2;
  const profile = numbered ? (engine.profile(1, PROFILE), 1) : engine.profile(PROFILE);
  return { engine, profile, times: [] };
}

const sides = [await side(first), await side(second)];
let ident = 1;
for (let round = 0; round < ROUNDS; round++) {
  for (const current of round % 2 ? [sides[1], sides[0]] : sides) {
    const started = performance.now();
    const answers = [];
    for (let i = 0; i < PER_ROUND; i++) {
      answers.push(current.engine.submit(ident++, current.profile, "https://app.test/api/x", "GET", null, null, FLAGS, null));
    }
    await Promise.all(answers);
    current.times.push(((performance.now() - started) * 1000) / PER_ROUND);
  }
}
const median = (xs) => [...xs.slice(WARM_UP)].sort((a, b) => a - b)[Math.floor((xs.length - WARM_UP) / 2)];
console.log(`us per request: ${process.argv[2]} ${median(sides[0].times).toFixed(2)}, ${process.argv[3]} ${median(sides[1].times).toFixed(2)}`);
