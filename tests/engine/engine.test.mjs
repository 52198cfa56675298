// engine.js on its own, in Node.js (node --test): the mechanics the coordinator relies on, with a
// fetch whose answers the test hands out one by one. The coordinator's side is played by hand:
// reports are read from the listener, commands are applied as session.py would send them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FLAGS, createEngine, fromHexInto } from "../../frontend/authfetch/engine.js";

const { CREDENTIALED, COORDINATED, RECALLABLE, PACED } = FLAGS;
const GET_FLAGS = CREDENTIALED | COORDINATED | RECALLABLE | PACED;
const PROFILE = JSON.stringify({ refreshOn: [401], csrfCookie: "csrf", csrfHeader: "X-CSRF-Token", headers: [], bearer: true });

function setup({ connections = null, maxInFlight = "auto", cookie = "c1" } = {}) {
  const sent = []; // {url, init, answer(status), fail(error)}
  const reports = [];
  const jar = { csrf: cookie };
  const fetch = (url, init) => new Promise((resolve, reject) => {
    const call = { url, init, answer: (status) => resolve(new Response("{}", { status })), fail: reject };
    init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    sent.push(call);
  });
  const engine = createEngine(JSON.stringify({ maxInFlight, pacedOrigin: "https://app.test" }), {
    fetch, connections, readCookie: (name) => jar[name] ?? null,
  });
  engine.listen((text) => reports.push(...JSON.parse(text)));
  const profile = engine.profile(PROFILE);
  const submit = (ident, flags = GET_FLAGS, extra = {}) =>
    engine.submit(ident, profile, extra.url || "https://app.test/api/x", extra.method || "GET", extra.headers ?? null,
      extra.body ?? null, flags, extra.timeoutMs ?? null);
  const apply = (...commands) => engine.apply(JSON.stringify(commands));
  return { engine, sent, reports, jar, submit, apply, settle: () => new Promise((r) => setTimeout(r, 0)) };
}

test("a request number in use is refused, loudly", async () => {
  const { submit } = setup();
  submit(1);
  await assert.rejects(submit(1), /already in use/);
});

test("the first 401 of the credential pauses the gate until the coordinator has seen it", async () => {
  const { submit, sent, reports, apply, settle } = setup();
  submit(1);
  submit(2);
  await settle();
  assert.equal(sent.length, 2);
  sent[0].answer(401);
  await settle();
  assert.deepEqual(reports, [["answered", 1, 0, false, true, 1]]);
  submit(3);
  await settle();
  assert.equal(sent.length, 2, "a request after the trip waits at the gate");
  apply(["gate", "open", 0, null, 0, null]); // an open that has not seen trip 1
  await settle();
  assert.equal(sent.length, 2, "an open that has not seen the trip keeps the gate shut");
  apply(["gate", "open", 0, null, 1, null]);
  await settle();
  assert.equal(sent.length, 3, "the open that has seen it lets the request go");
});

test("an open with a newer credential opens whatever trips were not seen, and sends it", async () => {
  const { submit, sent, apply, settle } = setup();
  submit(1);
  await settle();
  sent[0].answer(401);
  await settle();
  submit(2);
  apply(["verdict", 1, "replay", null], ["gate", "open", 1, "token-1", 0, null]);
  await settle();
  assert.deepEqual(sent.slice(1).map((c) => c.init.headers.get("authorization")), ["Bearer token-1", "Bearer token-1"]);
});

test("auto hands the browser twice its connections and refills once half came back", async () => {
  const { submit, sent, settle } = setup({ connections: 3 });
  for (let ident = 1; ident <= 10; ident++) submit(ident);
  await settle();
  assert.equal(sent.length, 6);
  sent[0].answer(200);
  sent[1].answer(200);
  await settle();
  assert.equal(sent.length, 6, "no refill while more than the connections are out");
  sent[2].answer(200);
  await settle();
  assert.equal(sent.length, 9, "refilled to six in the browser's hands at once");
  assert.equal(JSON.parse(setup({ connections: 3 }).engine.stats()).limit, 6);
});

test("recall takes back the safe requests of the stale generation; only unpaced ones are aborted", async () => {
  for (const [maxInFlight, aborted] of [["auto", false], [null, true]]) {
    const { submit, sent, apply, settle, engine } = setup({ connections: 6, maxInFlight });
    submit(1);
    submit(2);
    submit(3, CREDENTIALED | COORDINATED | PACED, { method: "POST", body: "x" });
    await settle();
    apply(["recall", 0]);
    await settle();
    assert.equal(JSON.parse(engine.stats()).recalls, 2, "the POST is never recalled");
    assert.equal(Boolean(sent[0].init.signal?.aborted), aborted, `maxInFlight ${maxInFlight}`);
    apply(["gate", "open", 1, null, 0, null]);
    await settle();
    assert.equal(sent.length, 5, "the two GETs go out again with the new credential");
  }
});

test("MicroPython's bytes decode into place from hex chunks", () => {
  const target = new Uint8Array(5);
  assert.equal(fromHexInto(target, 0, "00ff"), 2);
  assert.equal(fromHexInto(target, 2, "41Fe0a"), 3);
  assert.deepEqual([...target], [0, 255, 65, 254, 10]);
});

test("a replay re-reads the CSRF cookie and carries the same bytes", async () => {
  const { submit, sent, apply, settle, jar } = setup();
  submit(1, CREDENTIALED | COORDINATED, { method: "POST", body: new Uint8Array([0, 255, 65]) });
  await settle();
  assert.equal(sent[0].init.headers.get("x-csrf-token"), "c1");
  assert.deepEqual([...sent[0].init.body], [0, 255, 65]);
  sent[0].answer(401);
  await settle();
  jar.csrf = "c2"; // the refresh rotated it
  apply(["verdict", 1, "replay", null], ["gate", "open", 1, null, 1, null]);
  await settle();
  assert.equal(sent[1].init.headers.get("x-csrf-token"), "c2");
  assert.deepEqual([...sent[1].init.body], [0, 255, 65]);
});

test("answers cross to Python as numbers, failures as text with the last response", async () => {
  const { engine, submit, sent, apply, settle } = setup();
  const ok = submit(1);
  const refused = submit(2);
  await settle();
  sent[0].answer(200);
  const answer = await ok;
  assert.equal(answer % 1000, 200);
  assert.equal(await engine.text(Math.floor(answer / 1000)), "{}");
  assert.equal(await engine.hex(Math.floor(answer / 1000)), "7b7d");
  sent[1].answer(401);
  await settle();
  apply(["verdict", 2, "fail", "session-expired"]);
  assert.match(await refused, /^session-expired\|\d+\|401\|session-expired$/);
});

test("an ended gate fails what waits and what comes, without sending", async () => {
  const { submit, sent, apply, settle } = setup();
  submit(1);
  await settle();
  sent[0].answer(401);
  await settle();
  const waiting = submit(2);
  apply(["failWaiting", "session-expired"], ["gate", "ended", 0, null, 1, "session-expired"]);
  assert.match(await waiting, /^session-expired\|0\|0\|/);
  assert.match(await submit(3), /^session-expired\|0\|0\|/);
  assert.equal(sent.length, 1);
});

test("a request past the due time trips the renewal and reports it", async () => {
  const { submit, sent, reports, apply, settle } = setup();
  apply(["due", 0]);
  submit(1);
  await settle();
  assert.deepEqual(reports, [["due", 1]]);
  assert.equal(sent.length, 0, "held for the renewal");
});

test("a request waiting at the gate times out by its own timeout", async () => {
  const { submit, sent, apply, settle } = setup();
  apply(["gate", "paused", 0, null, 0, null]);
  const answer = await submit(1, GET_FLAGS, { timeoutMs: 20 });
  assert.match(answer, /^timeout\|/);
  await settle();
  assert.equal(sent.length, 0);
});

test("trace: each request's steps are reported only while asked for, in the order they happen", async () => {
  const { engine, submit, sent, reports, apply, settle } = setup();
  submit(1);
  await settle();
  sent[0].answer(200);
  await settle();
  assert.deepEqual(reports.filter((r) => r[0] === "trace"), [], "no steps reported unless asked");
  engine.trace(true);
  submit(2);
  submit(3);
  await settle();
  sent[1].answer(401); // trips the gate
  await settle();
  submit(4); // arrives while the gate is paused: held
  sent[2].answer(401); // a second stale answer
  await settle();
  apply(["verdict", 2, "replay", null], ["verdict", 3, "replay", null], ["gate", "open", 1, "token-1", 2, null]);
  await settle();
  for (const call of sent.slice(3)) call.answer(200);
  await settle();
  const steps = reports.filter((r) => r[0] === "trace").map(([, ident, phase, at, status, attempt]) => {
    assert.equal(typeof at, "number");
    return [ident, phase, status, attempt];
  });
  assert.deepEqual(steps.filter((s) => s[0] === 2), [[2, "queued", 0, 0], [2, "sent", 0, 1], [2, "first-401", 401, 1], [2, "held", 0, 1], [2, "sent", 0, 2], [2, "done", 200, 2]]);
  assert.deepEqual(steps.filter((s) => s[0] === 3), [[3, "queued", 0, 0], [3, "sent", 0, 1], [3, "stale", 401, 1], [3, "held", 0, 1], [3, "sent", 0, 2], [3, "done", 200, 2]]);
  assert.deepEqual(steps.filter((s) => s[0] === 4), [[4, "queued", 0, 0], [4, "held", 0, 0], [4, "sent", 0, 1], [4, "done", 200, 1]]);
  assert.equal(reports.find((r) => r[0] === "trace" && r[1] === 2 && r[2] === "queued")[6], "GET https://app.test/api/x");
  engine.trace(false);
  const before = reports.length;
  submit(5);
  await settle();
  sent.at(-1).answer(200);
  await settle();
  assert.equal(reports.length, before, "off again: nothing more reported");
});

test("trace: requests waiting for a connection when the gate pauses are reported held", async () => {
  const { engine, submit, sent, reports, settle } = setup({ connections: 1 });
  engine.trace(true);
  for (let ident = 1; ident <= 4; ident++) submit(ident);
  await settle();
  assert.equal(sent.length, 2, "two in the browser's hands, two waiting for a slot");
  sent[0].answer(401);
  await settle();
  const held = reports.filter((r) => r[0] === "trace" && r[2] === "held").map((r) => r[1]);
  assert.deepEqual(held, [3, 4]);
});

test("recalled requests go out again before the ones that waited behind them", async () => {
  const { submit, sent, apply, settle } = setup({ connections: 2 });
  for (let ident = 1; ident <= 7; ident++) submit(ident, GET_FLAGS, { url: `https://app.test/api/${ident}` });
  await settle();
  assert.equal(sent.length, 4);
  sent[0].answer(401); // trips; #2, #3 and #4 are still out with the stale credential
  await settle();
  apply(["recall", 0], ["verdict", 1, "replay", null], ["gate", "open", 1, "token-1", 1, null]);
  await settle();
  assert.deepEqual(sent.slice(4).map((c) => c.url.split("/").pop()), ["1", "2", "3", "4"], "the oldest first, in their order");
});
