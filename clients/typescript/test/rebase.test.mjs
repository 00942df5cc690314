// Local writes stay on top of what the server sends until the gateway answers them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, LocalState, overlay } from "../dist/index.js";
import { FakeGateway, schema, until } from "./fake-gateway.mjs";

test("overlay: what a queued write makes of a row", () => {
  const base = { id: "a", n: 1, m: 1 };
  assert.deepEqual(overlay(base, "update", { id: "a", n: 2 }), { id: "a", n: 2, m: 1 });
  assert.equal(overlay(null, "update", { id: "a", n: 2 }), null);
  assert.deepEqual(overlay(null, "upsert", { id: "a", n: 2 }), { id: "a", n: 2 });
  assert.deepEqual(overlay(base, "insert", { id: "a" }), { id: "a" });
  assert.equal(overlay(base, "delete", { id: "a" }), null);
});

test("a server change under a queued write: the app keeps seeing its write", () => {
  const state = new LocalState(["items"]);
  const touched = new Map();
  state.applyServer({ table: "items", key: "a", version: 1, deleted: false, row: { id: "a", n: 1, m: 1 } }, touched);
  const write = { seq: 1, opId: "d:1", table: "items", action: "update", key: "a", data: { id: "a", n: 5 }, baseVersion: 1, queuedAt: 0, attempts: 0 };
  state.enqueue(write, touched);
  state.applyServer({ table: "items", key: "a", version: 2, deleted: false, row: { id: "a", n: 1, m: 7 } }, touched);
  assert.deepEqual(state.rows("items").get("a"), { id: "a", n: 5, m: 7 }, "own write over the newer server row");
  assert.equal(state.applyServer({ table: "items", key: "a", version: 1, deleted: false, row: { id: "a", n: 0 } }, touched), null, "an older answer is ignored");
  state.settle(write, touched);
  assert.deepEqual(state.rows("items").get("a"), { id: "a", n: 1, m: 7 });
  state.applyServer({ table: "items", key: "a", version: 3, deleted: true, row: null }, touched);
  assert.equal(state.rows("items").get("a"), undefined, "a tombstone removes it");
});

test("the app never sees its own write disappear and come back", async () => {
  const gateway = new FakeGateway();
  let release;
  const held = new Promise((r) => (release = r));
  gateway.pushFaults.push(async (apply) => { await held; return null; });
  const client = await createClient({
    url: "http://gateway.test/api/v1", schema, token: () => "t", fetch: gateway.fetch,
    live: "long-poll", longPollWait: 1, retry: { minMs: 5, maxMs: 20 }, deviceId: "dev",
  });
  const seen = [];
  client.subscribe(client.table("items").get("a"), (row) => seen.push(row?.n ?? null));
  await client.table("items").insert({ id: "a", n: 1 });
  // Another device's write reaches the feed while ours waits for its answer.
  gateway.write("items", "b", { id: "b" });
  await until(() => client.table("items").get("b").run(), "the other write");
  release();
  await client.flushed();
  await until(() => client.table("items").get("a").run()?._version === 1, "the server's row");
  assert.deepEqual(seen.filter((n, i) => n !== seen[i - 1]), [null, 1], `${seen}`);
  await client.close();
});

test("subscribe fires once per page, and only when the answer changed", async () => {
  const gateway = new FakeGateway();
  for (let i = 0; i < 50; i++) gateway.write("items", `k${i}`, { id: `k${i}`, even: i % 2 === 0 });
  const client = await createClient({
    url: "http://gateway.test/api/v1", schema, token: () => "t", fetch: gateway.fetch,
    live: "long-poll", longPollWait: 1, deviceId: "dev",
  });
  const answers = [];
  client.subscribe(client.table("items").where({ even: true }), (rows) => answers.push(rows.length));
  await until(() => answers.at(-1) === 25, "the first read");
  gateway.write("items", "k1", { id: "k1", even: false, note: "odd stays odd" });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(answers, [0, 25], "a change outside the query does not fire it");
  await client.close();
});
