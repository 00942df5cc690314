// The client's figures (BENCHMARKS.md, "Client library"), each next to a baseline measured in the
// same run against the same release gateway (SQLite):
// - bootstrap of N rows (default 100,000): the client into its Node store (FilePersistence,
//   every batch fsync'd) and into memory, and in headless Chromium into IndexedDB; baseline:
//   the same feed pages fetched and parsed into a Map, with no store (Node, and in the page);
// - one write from device A to device B: `insert` on A until B's `subscribe` fires, 200 writes
//   one after another (p50/p99); baseline: a bare push by fetch until a bare stream reader has
//   the change.
// Run: scripts/bench --client-only   (or: node bench/client-bench.mjs [--rows N] [--writes N])
import { chromium } from "playwright-core";
import { parseArgs } from "node:util";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FilePersistence, MemoryPersistence, SyncClient } from "../dist/node.js";
import { EventStreamParser } from "../dist/index.js";
import { Gateway, Proxy } from "../e2e/harness.mjs";

const { values } = parseArgs({ options: { rows: { type: "string", default: "100000" }, writes: { type: "string", default: "200" } } });
const ROWS = Number(values.rows);
const WRITES = Number(values.writes);
const schema = { products: { primaryKey: "id" }, sales: { primaryKey: "id" } };
const seconds = (ms) => (ms / 1000).toFixed(2);
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const gateway = new Gateway("sqlite");
await gateway.start();
const proxy = new Proxy(gateway);
await proxy.listen();
const admin = gateway.token("admin", "ADMIN", 1);
const reader = gateway.token("bench-reader", "BODEGA", 1);
const api = `${gateway.url}/api/v1`;

console.error(`seeding ${ROWS} products`);
for (let done = 0; done < ROWS; done += 5000) {
  const operations = Array.from({ length: Math.min(5000, ROWS - done) }, (_, i) => ({
    table: "products", action: "insert",
    data: { id: crypto.randomUUID(), branch_id: 1, sku: `B${done + i}`, name: `Bench product ${done + i}`, price: "3.20", stock: 5, updated_at: "2026-12-01T00:00:00Z" },
  }));
  const response = await fetch(`${api}/sync/push`, { method: "POST", headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" }, body: JSON.stringify({ device_id: "seed", operations }) });
  if (!response.ok) throw new Error(await response.text());
}

async function rawBootstrap(base, token) {
  const started = performance.now();
  const rows = new Map();
  let cursor = "";
  for (;;) {
    const page = await (await fetch(`${base}/sync/changes?limit=1000${cursor}`, { headers: { authorization: `Bearer ${token}` } })).json();
    for (const change of page.changes) rows.set(change.key, change.row);
    if (!page.has_more) break;
    cursor = `&cursor=${encodeURIComponent(page.cursor)}`;
  }
  return { ms: performance.now() - started, rows: rows.size };
}

async function clientBootstrap(persistence) {
  const started = performance.now();
  const client = await SyncClient.open({ url: api, schema, token: () => reader, persistence, live: "long-poll" });
  const done = new Promise((resolve) => client.on("bootstrap", (p) => p.done && resolve()));
  client.start();
  await done;
  const ms = performance.now() - started;
  const rows = client.table("products").all().run().length;
  await client.close();
  return { ms, rows };
}

const figures = {};
figures.nodeBaseline = await rawBootstrap(api, reader);
figures.nodeMemory = await clientBootstrap(new MemoryPersistence());
figures.nodeFile = await clientBootstrap(new FilePersistence(join(mkdtempSync(join(tmpdir(), "sg-bench-")), "device.json")));

console.error("Chromium");
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
const page = await (await browser.newContext()).newPage();
await page.goto(`${proxy.url}/e2e/page.html`);
await page.waitForFunction(() => window.ready === true);
figures.browserBaseline = await page.evaluate(async (token) => {
  const started = performance.now();
  const rows = new Map();
  let cursor = "";
  for (;;) {
    const page = await (await fetch(`/api/v1/sync/changes?limit=1000${cursor}`, { headers: { authorization: `Bearer ${token}` } })).json();
    for (const change of page.changes) rows.set(change.key, change.row);
    if (!page.has_more) break;
    cursor = `&cursor=${encodeURIComponent(page.cursor)}`;
  }
  return { ms: performance.now() - started, rows: rows.size };
}, reader);
figures.browserIndexedDB = await page.evaluate(async (token) => {
  const started = performance.now();
  await window.openClient(token, "bench");
  await new Promise((resolve) => {
    const check = () => (client.status.get().bootstrap?.done ? resolve() : setTimeout(check, 5));
    check();
  });
  return { ms: performance.now() - started, rows: client.table("products").all().run().length };
}, reader);
figures.browserReopen = await page.evaluate(async (token) => {
  await client.close();
  const started = performance.now();
  await window.openClient(token, "bench");
  return { ms: performance.now() - started, rows: client.table("products").all().run().length };
}, reader);
await browser.close();

console.error(`${WRITES} writes from A to B`);
async function rawLatency() {
  const response = await fetch(`${api}/sync/stream?tables=products&cursor=${encodeURIComponent(figures.cursor)}`, { headers: { authorization: `Bearer ${reader}` } });
  const parser = new EventStreamParser();
  const decoder = new TextDecoder();
  const waiting = new Map();
  (async () => {
    for await (const chunk of response.body) {
      for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
        if (event.event === "change") waiting.get(JSON.parse(event.data).key)?.();
      }
    }
  })().catch(() => {});
  const times = [];
  for (let i = 0; i < WRITES; i++) {
    const id = crypto.randomUUID();
    const seen = new Promise((resolve) => waiting.set(id, resolve));
    const started = performance.now();
    await fetch(`${api}/sync/push`, {
      method: "POST", headers: { authorization: `Bearer ${reader}`, "content-type": "application/json" },
      body: JSON.stringify({ device_id: "raw", operations: [{ op_id: `raw-${id}`, table: "products", action: "insert", data: { id, sku: "L", name: "latency", price: "1", updated_at: "2026-12-01T00:00:00Z" } }] }),
    });
    await seen;
    times.push(performance.now() - started);
  }
  await response.body.cancel().catch(() => {});
  return times.sort((a, b) => a - b);
}

async function clientLatency() {
  const open = (persistence) => SyncClient.open({ url: api, schema, token: () => reader, persistence });
  const a = await open(new FilePersistence(join(mkdtempSync(join(tmpdir(), "sg-bench-a-")), "a.json")));
  const b = await open(new FilePersistence(join(mkdtempSync(join(tmpdir(), "sg-bench-b-")), "b.json")));
  for (const client of [a, b]) {
    const done = new Promise((resolve) => client.on("bootstrap", (p) => p.done && resolve()));
    client.start();
    await done;
  }
  await new Promise((r) => setTimeout(r, 500)); // both streams open
  figures.cursor = b.cursor;
  const times = [];
  for (let i = 0; i < WRITES; i++) {
    const id = crypto.randomUUID();
    let stop;
    const seen = new Promise((resolve) => (stop = b.subscribe(b.table("products").get(id), (row) => row && resolve())));
    const started = performance.now();
    await a.table("products").insert({ id, sku: "L", name: "latency", price: "1", updated_at: "2026-12-01T00:00:00Z" });
    await seen;
    times.push(performance.now() - started);
    stop();
  }
  await a.close();
  await b.close();
  return times.sort((x, y) => x - y);
}

const client = await clientLatency();
const raw = await rawLatency();
await proxy.close();
await gateway.close();

const ratio = (baseline, measured) => (baseline / measured).toFixed(2);
const rate = (f) => `${Math.round(f.rows / (f.ms / 1000)).toLocaleString("en")} rows/s`;
console.log(`| figure | client | baseline | ratio |`);
console.log(`|---|---|---|---|`);
console.log(`| bootstrap ${ROWS} rows, Node, into memory | ${seconds(figures.nodeMemory.ms)} s (${rate(figures.nodeMemory)}) | ${seconds(figures.nodeBaseline.ms)} s | ${ratio(figures.nodeBaseline.ms, figures.nodeMemory.ms)} |`);
console.log(`| bootstrap ${ROWS} rows, Node, into the file store | ${seconds(figures.nodeFile.ms)} s (${rate(figures.nodeFile)}) | ${seconds(figures.nodeBaseline.ms)} s | ${ratio(figures.nodeBaseline.ms, figures.nodeFile.ms)} |`);
console.log(`| bootstrap ${ROWS} rows, Chromium, into IndexedDB | ${seconds(figures.browserIndexedDB.ms)} s (${rate(figures.browserIndexedDB)}) | ${seconds(figures.browserBaseline.ms)} s | ${ratio(figures.browserBaseline.ms, figures.browserIndexedDB.ms)} |`);
console.log(`| reopen with ${figures.browserReopen.rows} rows held, Chromium (IndexedDB load) | ${seconds(figures.browserReopen.ms)} s | | |`);
console.log(`| write A → B, p50 (${WRITES} writes) | ${quantile(client, 0.5).toFixed(1)} ms | ${quantile(raw, 0.5).toFixed(1)} ms | ${ratio(quantile(raw, 0.5), quantile(client, 0.5))} |`);
console.log(`| write A → B, p99 | ${quantile(client, 0.99).toFixed(1)} ms | ${quantile(raw, 0.99).toFixed(1)} ms | ${ratio(quantile(raw, 0.99), quantile(client, 0.99))} |`);
for (const [name, f] of Object.entries(figures)) if (f.rows !== undefined && name !== "browserReopen" && f.rows < ROWS) console.error(`warning: ${name} read ${f.rows} rows`);
