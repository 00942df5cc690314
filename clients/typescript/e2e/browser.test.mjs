// The client in headless Chromium (IndexedDB store, fetch-read stream) against a real gateway
// on SQLite, and on PostgreSQL when SGTEST_POSTGRES_URL is set. Two browser contexts of
// different branches; writes made while the gateway is stopped, a page reload, the gateway
// started again; the gateway killed with SIGKILL in the middle of a 1,000-write flush; an answer
// lost on its way back; a conflict; a refused write with later writes still flushed; a row
// moved out of a branch. After each step, each context's copy is compared with what the gateway
// answers fresh for its token: the number of differing rows must be 0.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";
import { backends, differences, Gateway, Proxy, until } from "./harness.mjs";

const TABLES = ["products", "sales"];

const product = (sku, extra = {}) => ({
  id: crypto.randomUUID(), sku, name: `Product ${sku}`, price: "1.25", stock: 10, updated_at: "2026-12-01T00:00:00Z", ...extra,
});

for (const backend of backends()) {
  describe(`the client in Chromium on ${backend}`, () => {
    const gateway = new Gateway(backend);
    let proxy, browser, admin;
    const devices = {};

    async function open(name, token) {
      const context = devices[name]?.context ?? (await browser.newContext());
      const page = devices[name]?.page ?? (await context.newPage());
      page.on("pageerror", (e) => console.error(`[${name}] ${e}`));
      await page.goto(`${proxy.url}/e2e/page.html`);
      await page.waitForFunction(() => window.ready === true);
      await page.evaluate(([t, n]) => window.openClient(t, n), [token, `syncgate-e2e-${name}`]);
      devices[name] = { context, page, token };
      return page;
    }

    const copy = (name) => devices[name].page.evaluate(() => window.copy());
    const pending = (name) => devices[name].page.evaluate(() => client.pendingWrites().length);
    const flushed = (name) => devices[name].page.evaluate(() => client.flushed());
    const events = (name) => devices[name].page.evaluate(() => ({
      conflicts: events.conflicts.map((e) => ({ key: e.write.key, ...e.conflict })),
      writeErrors: events.writeErrors.map((e) => ({ key: e.write.key, ...e.error })),
    }));
    const insertAll = (name, rows) => devices[name].page.evaluate(async (rows) => {
      for (const row of rows) await client.table("products").insert(row);
    }, rows);

    async function converged() {
      for (const name of Object.keys(devices)) {
        let last;
        try {
          await until(async () => (last = differences(await copy(name), await gateway.rows(devices[name].token), TABLES)).count === 0, `${name} to converge`);
        } catch (error) {
          throw new Error(`${name}: ${last.count} rows differ, e.g. ${JSON.stringify(last.details)}`);
        }
      }
    }

    before(async () => {
      await gateway.start();
      proxy = new Proxy(gateway);
      await proxy.listen();
      admin = gateway.token("admin", "ADMIN", 1);
      browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
        args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      });
      await open("north", gateway.token("north", "BODEGA", 1));
      await open("south", gateway.token("south", "BODEGA", 2));
    });

    after(async () => {
      await browser?.close();
      await proxy?.close();
      await gateway.close();
    });

    test("writes made while the gateway is stopped survive a reload and are applied once", async () => {
      await gateway.stop();
      const north = ["N1", "N2", "N3", "N4", "N5"].map((sku) => product(sku));
      const south = ["S1", "S2", "S3"].map((sku) => product(sku));
      await insertAll("north", north);
      await insertAll("south", south);
      assert.equal(Object.keys((await copy("north")).products).length, 5, "applied locally at once");
      for (const name of ["north", "south"]) {
        await devices[name].page.reload();
        await open(name, devices[name].token);
      }
      assert.equal(await pending("north"), 5, "the queue survived the reload");
      assert.equal(await pending("south"), 3);
      await gateway.start();
      await flushed("north");
      await flushed("south");
      const server = (await gateway.rows(admin)).products;
      for (const row of [...north, ...south]) assert.equal(server[row.id]?._version, 1, `${row.sku} applied exactly once`);
      assert.equal(server[north[0].id].branch_id, 1);
      assert.equal(server[south[0].id].branch_id, 2);
      await converged();
    });

    test("an answer lost on its way back applies nothing twice", async () => {
      proxy.loseNextPushAnswer();
      const row = product("LOST");
      await insertAll("north", [row]);
      await flushed("north");
      assert.equal((await gateway.rows(admin)).products[row.id]._version, 1);
      assert.deepEqual((await events("north")).conflicts, []);
      await converged();
    });

    test("a conflict is surfaced and a refused write does not hold back later ones", async () => {
      const row = product("CONFLICT");
      await insertAll("north", [row]);
      await flushed("north");
      // The head office sets the stock later by the clock than north's write below.
      const office = await gateway.call("POST", "/sync/push", admin, {
        device_id: "office", operations: [{ op_id: `c-${row.id}`, table: "products", action: "update", data: { id: row.id, stock: 99, updated_at: "2026-12-04T00:00:00Z" } }],
      });
      assert.equal(office.status, 200);
      const bad = product("BAD", { stock: -1 });
      const good = product("GOOD");
      await devices.north.page.evaluate(async ([id, bad, good]) => {
        await client.table("products").update({ id, stock: 1, updated_at: "2026-12-02T00:00:00Z" });
        await client.table("products").insert(bad);
        await client.table("products").insert(good);
      }, [row.id, bad, good]);
      await flushed("north");
      const seen = await events("north");
      assert.equal(seen.conflicts.length, 1, JSON.stringify(seen));
      assert.equal(seen.conflicts[0].resolution, "server_kept");
      assert.equal(seen.conflicts[0].server_row.stock, 99);
      assert.equal(seen.conflicts[0].client_row.stock, 1);
      assert.deepEqual(seen.writeErrors.map((e) => [e.key, e.code, e.field]), [[bad.id, "validation_failed", "stock"]]);
      const server = (await gateway.rows(admin)).products;
      assert.equal(server[good.id]._version, 1, "the write after the refused one went");
      assert.equal(server[bad.id], undefined);
      await converged();
      assert.equal((await copy("north")).products[row.id].stock, 99, "the local row is the server's");
    });

    test("a row moved to another branch leaves one context and reaches the other", async () => {
      const row = product("MOVES");
      await insertAll("north", [row]);
      await flushed("north");
      const moved = await gateway.call("POST", "/sync/push", admin, {
        device_id: "office", operations: [{ op_id: `m-${row.id}`, table: "products", action: "update", data: { id: row.id, branch_id: 2, updated_at: "2026-12-05T00:00:00Z" } }],
      });
      assert.equal(moved.status, 200);
      await until(async () => !(await copy("north")).products[row.id], "the move-out in north");
      await until(async () => (await copy("south")).products[row.id]?.branch_id === 2, "the move-in in south");
      await converged();
    });

    test("1,000 queued writes flush in order, once each, through a SIGKILL of the gateway", async () => {
      await gateway.stop();
      const rows = Array.from({ length: 1000 }, (_, i) => product(`Q${String(i).padStart(4, "0")}`));
      await insertAll("north", rows);
      assert.equal(await pending("north"), 1000);
      let killed;
      const kill = new Promise((resolve) => (killed = resolve));
      const at = proxy.pushes + 4;
      proxy.onPush((n) => {
        if (n === at) setTimeout(() => gateway.stop("SIGKILL").then(killed), 3);
      });
      await gateway.start();
      await kill;
      const left = await pending("north");
      assert.ok(left > 0 && left < 1000, `killed in the middle of the flush (${left} left)`);
      await gateway.start();
      await flushed("north");
      const server = (await gateway.rows(admin)).products;
      for (const row of rows) assert.equal(server[row.id]?._version, 1, `${row.sku} applied exactly once`);
      // Feed order is commit order: the rows must come in the order they were queued.
      const order = [];
      let cursor = "";
      for (;;) {
        const page = await gateway.call("GET", `/sync/changes?tables=products&limit=1000${cursor}`, admin);
        order.push(...page.body.changes.map((c) => c.row?.sku).filter((sku) => sku?.startsWith("Q")));
        if (!page.body.has_more) break;
        cursor = `&cursor=${page.body.cursor}`;
      }
      assert.deepEqual(order, rows.map((r) => r.sku));
      await converged();
    });

    test("the example app lists products, sells one while the gateway is down, and shows the queue", async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      const cashier = gateway.token("till-ex", "CAJERO", 1);
      const seeded = await gateway.call("POST", "/sync/push", admin, {
        device_id: "office", operations: [{ op_id: "example-seed", table: "products", action: "upsert", data: { ...product("EX"), branch_id: 1, id: "00000000-0000-4000-8000-0000000000ee" } }],
      });
      assert.equal(seeded.status, 200, JSON.stringify(seeded.body));
      await page.goto(`${proxy.url}/example/index.html#token=${cashier}`);
      await page.waitForSelector("#products tr");
      const name = await page.textContent("#products tr td:nth-child(2)");
      await gateway.stop();
      await page.click("#products tr button");
      await page.waitForFunction(() => document.querySelector("#status")?.textContent?.includes("pending: 1"));
      assert.equal(await page.locator("#queue tr").count(), 1, "the sale waits in the queue");
      assert.equal(await page.textContent("#sales tr td:nth-child(2)"), name, "sold at once, offline");
      await gateway.start();
      await page.waitForFunction(() => document.querySelector("#status")?.textContent?.includes("pending: 0"), null, { timeout: 30_000 });
      await page.waitForFunction(() => !document.querySelector("#sales tr td:nth-child(4)")?.textContent?.includes("…"));
      const sales = Object.values((await gateway.rows(cashier)).sales ?? {}).filter((s) => s.cashier === "till-ex");
      assert.equal(sales.length, 1);
      assert.equal(Number(await page.textContent("#sales tr td:nth-child(4)")), Number(sales[0].line_total), "the hook's total shown");
      assert.deepEqual(errors, []);
      await context.close();
    });
  });
}
