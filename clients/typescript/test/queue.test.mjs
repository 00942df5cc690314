// The write queue: order, batches, retries that keep their op ids, refused writes surfaced
// without holding back the others, conflicts, tokens refreshed on 401.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "../dist/index.js";
import { FakeGateway, json, schema, until } from "./fake-gateway.mjs";

function open(gateway, extra = {}) {
  return createClient({
    url: "http://gateway.test/api/v1",
    schema,
    token: () => "t",
    fetch: gateway.fetch,
    live: "long-poll",
    longPollWait: 1,
    retry: { minMs: 5, maxMs: 20 },
    deviceId: "dev",
    ...extra,
  });
}

test("writes are pushed in order, in batches, each op id fixed when queued", async () => {
  const gateway = new FakeGateway();
  const client = await open(gateway, { batchSize: 10 });
  for (let i = 0; i < 35; i++) await client.table("items").insert({ id: `i${i}`, n: i });
  await client.flushed();
  const ops = gateway.pushes.flatMap((p) => p.operations);
  assert.deepEqual(ops.map((o) => o.data.id), Array.from({ length: 35 }, (_, i) => `i${i}`));
  assert.deepEqual(ops.map((o) => o.op_id), Array.from({ length: 35 }, (_, i) => `dev:${i + 1}`));
  assert.ok(gateway.pushes.every((p) => p.operations.length <= 10 && p.atomic === false && p.device_id === "dev"));
  await client.close();
});

test("network errors, 5xx and contended are retried with the same op ids; a lost answer applies once", async () => {
  const gateway = new FakeGateway();
  gateway.pushFaults.push(
    async () => { throw new TypeError("fetch failed"); },
    async () => json(503, { error: { code: "contended", message: "retry" } }),
    async () => json(500, { error: { code: "internal", message: "boom" } }),
    // The gateway applies the push, then the answer is lost on the way back.
    async (apply) => { apply(); throw new TypeError("socket hang up"); },
  );
  const client = await open(gateway);
  const seen = [];
  client.status.subscribe((s) => seen.push(s.online));
  await client.table("items").insert({ id: "a", n: 1 });
  await client.flushed();
  assert.equal(gateway.pushes.length, 5);
  assert.ok(gateway.pushes.every((p) => p.operations[0].op_id === "dev:1"), "the same op id every time");
  assert.equal(gateway.rows.get("a").version, 1, "applied once");
  assert.ok(seen.includes(false) && seen.at(-1) === true, "offline while failing, online after");
  await client.close();
});

test("a refused write leaves the queue, is surfaced with its op, and later writes still go", async () => {
  const gateway = new FakeGateway();
  gateway.refuseKeys.add("bad");
  const client = await open(gateway);
  const refused = [];
  client.on("writeError", (e) => refused.push(e));
  await client.table("items").insert({ id: "ok1", n: 1 });
  await client.table("items").insert({ id: "bad", n: 2 });
  await client.table("items").insert({ id: "ok2", n: 3 });
  assert.ok(client.table("items").get("bad").run(), "applied locally at once");
  await client.flushed();
  assert.equal(refused.length, 1);
  assert.equal(refused[0].write.key, "bad");
  assert.equal(refused[0].error.code, "validation_failed");
  assert.equal(client.table("items").get("bad").run(), undefined, "reverted to the server's side");
  assert.ok(gateway.rows.has("ok1") && gateway.rows.has("ok2"));
  assert.equal(client.status.get().lastError.code, "validation_failed");
  await client.close();
});

test("a request refused as a whole is narrowed to the write it cannot take", async () => {
  const gateway = new FakeGateway();
  gateway.fetch = ((inner) => async (url, init) => {
    if (init.body && JSON.parse(init.body).operations?.some((o) => o.data.id === "huge")) {
      return json(413, { error: { code: "payload_too_large", message: "too big" } });
    }
    return inner(url, init);
  })(gateway.fetch);
  const client = await open(gateway);
  const refused = [];
  client.on("writeError", (e) => refused.push(e.write.key));
  for (const id of ["a", "huge", "b"]) await client.table("items").insert({ id });
  await client.flushed();
  assert.deepEqual(refused, ["huge"]);
  assert.ok(gateway.rows.has("a") && gateway.rows.has("b") && !gateway.rows.has("huge"));
  await client.close();
});

test("a conflict is surfaced with both rows and the local row ends as the server kept it", async () => {
  const gateway = new FakeGateway();
  gateway.write("items", "x", { id: "x", n: 1 });
  const client = await open(gateway);
  await until(() => client.table("items").get("x").run(), "the first read");
  gateway.write("items", "x", { id: "x", n: 2 }); // another device, not read yet
  const conflicts = [];
  client.on("conflict", (e) => conflicts.push(e));
  await client.table("items").update({ id: "x", n: 99 });
  await client.flushed();
  assert.equal(gateway.pushes[0].operations[0].base_version, 1);
  assert.equal(conflicts.length, 1);
  assert.equal(conflicts[0].conflict.resolution, "server_kept");
  assert.equal(conflicts[0].conflict.server_row.n, 2);
  assert.equal(conflicts[0].conflict.client_row.n, 99);
  assert.equal(client.table("items").get("x").run().n, 2);
  await client.close();
});

test("a 401 asks the token provider again, with refresh", async () => {
  const gateway = new FakeGateway();
  gateway.validTokens = new Set(["new"]);
  const asked = [];
  const client = await open(gateway, { token: ({ refresh }) => (asked.push(refresh), refresh ? "new" : "old") });
  await client.table("items").insert({ id: "a" });
  await client.flushed();
  assert.equal(asked[0], false);
  assert.ok(asked.includes(true));
  assert.ok(gateway.rows.has("a"));
  await client.close();
});

test("where the stream is refused, changes come by long-poll", async () => {
  const gateway = new FakeGateway(); // answers 404 to /sync/stream
  const client = await open(gateway, { live: "auto" });
  gateway.write("items", "late", { id: "late" });
  await until(() => client.table("items").get("late").run(), "the change");
  gateway.write("items", "later", { id: "later" });
  await until(() => client.table("items").get("later").run(), "the next change");
  assert.equal(client.status.get().live, "long-poll");
  await client.close();
});
