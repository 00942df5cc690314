// The Node store: what was written survives a restart, a torn last line is skipped, and the
// journal folds into the snapshot.
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { EventStreamParser, SyncClient } from "../dist/index.js";
import { FilePersistence } from "../dist/node.js";
import { schema } from "./fake-gateway.mjs";

const row = (key, version) => ({ table: "items", key, version, deleted: false, row: { id: key } });

test("rows, queue, cursor and device survive a restart; a torn last batch is not applied", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "sg-store-")), "device.json");
  const first = new FilePersistence(path);
  await first.load();
  await first.apply({ putRows: [row("a", 1), row("b", 1)], meta: { cursor: "2.x", deviceId: "d" } });
  await first.apply({ putQueue: [{ seq: 1, opId: "d:1", table: "items", action: "insert", key: "c", data: { id: "c" }, queuedAt: 0, attempts: 0 }] });
  await first.apply({ clearTables: ["items"], putRows: [row("b", 2)] });
  await first.close();
  appendFileSync(`${path}.journal`, '{"putRows":[{"table":"items","key":"torn"');
  const second = new FilePersistence(path);
  const state = await second.load();
  assert.deepEqual(state.rows.map((r) => [r.key, r.version]), [["b", 2]]);
  assert.deepEqual(state.queue.map((w) => w.opId), ["d:1"]);
  assert.equal(state.meta.cursor, "2.x");
  await second.close();
});

test("a client opened again holds its rows and queue, and keeps counting op ids", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "sg-store-")), "device.json");
  const options = { url: "http://unreachable.test", schema, token: () => "t", persistence: new FilePersistence(path) };
  const client = await SyncClient.open(options);
  await client.table("items").insert({ id: "a" });
  await client.table("items").insert({ id: "b" });
  const device = client.deviceId;
  await client.close();
  const again = await SyncClient.open({ ...options, persistence: new FilePersistence(path) });
  assert.equal(again.deviceId, device);
  assert.deepEqual(again.pendingWrites().map((w) => w.opId), [`${device}:1`, `${device}:2`]);
  assert.ok(again.table("items").get("b").run());
  await again.table("items").insert({ id: "c" });
  assert.equal(again.pendingWrites().at(-1).opId, `${device}:3`);
  await again.close();
});

test("the journal folds into the snapshot once it grows", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "sg-store-")), "device.json");
  const store = new FilePersistence(path, { compactAfterBytes: 10_000, durable: false });
  await store.load();
  for (let i = 0; i < 500; i++) await store.apply({ putRows: [row(`k${i}`, 1)] });
  assert.ok(statSync(`${path}.journal`).size < 10_000);
  await store.close();
  const state = await new FilePersistence(path).load();
  assert.equal(state.rows.length, 500);
});

test("server-sent events split across chunks, with comments and CRLF", () => {
  const parser = new EventStreamParser();
  assert.deepEqual(parser.push(": heartbeat\r\nid: 4.a\r\nevent: change\r\ndata: {\"seq\""), []);
  assert.deepEqual(parser.push(":4}\r\n\r\nid: 5.a\ndata: x\n"), [{ id: "4.a", event: "change", data: '{"seq":4}' }]);
  assert.deepEqual(parser.push("\n"), [{ id: "5.a", event: "message", data: "x" }]);
});
