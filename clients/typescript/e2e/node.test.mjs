// The client in a Node process as a till, against a real gateway (SQLite, and PostgreSQL when
// SGTEST_POSTGRES_URL is set): sales made while the gateway is down survive a restart of the
// till and reach the gateway once each; a lost answer applies nothing twice; a conflict and a
// refused write are surfaced; a product moved to another branch leaves the till; and the till's
// copy ends equal to what the gateway answers fresh.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SyncClient } from "../dist/node.js";
import { FilePersistence } from "../dist/node.js";
import { backends, copy, differences, Gateway, Proxy, until } from "./harness.mjs";

const schema = { products: { primaryKey: "id" }, sales: { primaryKey: "id" } };

for (const backend of backends()) {
  describe(`a Node till on ${backend}`, () => {
    const gateway = new Gateway(backend);
    let proxy, admin, cashier, store;
    const products = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];

    before(async () => {
      await gateway.start();
      proxy = new Proxy(gateway);
      await proxy.listen();
      admin = gateway.token("admin", "ADMIN", 1);
      cashier = gateway.token("till-1", "CAJERO", 1);
      store = join(mkdtempSync(join(tmpdir(), "sg-till-")), "till.json");
      const pushed = await gateway.call("POST", "/sync/push", admin, {
        device_id: "office",
        operations: products.map((id, i) => ({
          op_id: `seed-${i}`, table: "products", action: "insert",
          data: { id, branch_id: 1, sku: `P${i}`, name: `Product ${i}`, price: "2.50", stock: 1000, updated_at: "2026-12-01T00:00:00Z" },
        })),
      });
      assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
    });

    after(async () => {
      await proxy?.close();
      await gateway.close();
    });

    const open = () =>
      SyncClient.open({
        url: `${proxy.url}/api/v1`, schema, token: () => cashier,
        persistence: new FilePersistence(store), retry: { minMs: 50, maxMs: 500 },
      });
    const sale = (product, quantity = 1) => ({
      id: crypto.randomUUID(), product_id: product, quantity, unit_price: "2.50",
      sold_at: new Date().toISOString(), cashier: "till-1",
    });

    test("sales made offline survive a restart of the till and are applied once each", async () => {
      let till = await open();
      till.start();
      await until(() => till.table("products").all().run().length === 3, "the first read");
      await gateway.stop();
      const sold = [];
      for (let i = 0; i < 20; i++) {
        const row = sale(products[i % 3]);
        sold.push(row.id);
        await till.table("sales").insert(row);
      }
      assert.equal(till.table("sales").all().run().length, 20, "sold locally at once");
      await till.close();

      till = await open();
      assert.equal(till.pendingWrites().length, 20, "the queue survived the restart");
      till.start();
      await gateway.start();
      await till.flushed();
      const rows = (await gateway.rows(admin)).sales;
      for (const id of sold) assert.equal(rows[id]?._version, 1, `sale ${id} applied exactly once`);
      const local = till.table("sales").get(sold[0]).run();
      assert.equal(Number(local.line_total), 2.5, "the gateway's hook result reached the till");
      await till.close();
    });

    test("a lost answer, a conflict, a refused sale and a move-out", async () => {
      const till = await open();
      const conflicts = [];
      const refused = [];
      till.on("conflict", (e) => conflicts.push(e));
      till.on("writeError", (e) => refused.push(e));
      till.start();

      proxy.loseNextPushAnswer();
      const lost = sale(products[0]);
      await till.table("sales").insert(lost);
      await till.flushed();
      assert.equal((await gateway.rows(admin)).sales[lost.id]._version, 1, "retried after the lost answer, applied once");
      assert.equal(conflicts.length, 0, "the retry was a replay, not a conflict");

      // The back office (a second Node client, BODEGA) lowers a product's stock while the
      // head office sets it later by the clock: last_write_wins keeps the later one.
      const office = await SyncClient.open({
        url: `${proxy.url}/api/v1`, schema, token: () => gateway.token("office-1", "BODEGA", 1), retry: { minMs: 50, maxMs: 500 },
      });
      office.on("conflict", (e) => conflicts.push(e));
      office.start();
      await until(() => office.table("products").get(products[1]).run(), "the office's first read");
      const later = await gateway.call("POST", "/sync/push", admin, {
        device_id: "head-office", operations: [{ op_id: "stock-1", table: "products", action: "update", data: { id: products[1], stock: 500, updated_at: "2026-12-03T00:00:00Z" } }],
      });
      assert.equal(later.status, 200, JSON.stringify(later.body));
      await office.table("products").update({ id: products[1], stock: 7, updated_at: "2026-12-02T12:00:00Z" });
      await office.flushed();
      await office.close();

      const refusedSale = sale(products[0], 0);
      await till.table("sales").insert(refusedSale);
      const afterRefused = sale(products[2]);
      await till.table("sales").insert(afterRefused);
      await till.flushed();
      assert.equal(conflicts.length, 1, JSON.stringify(refused.map((e) => e.error)));
      assert.equal(conflicts[0].conflict.resolution, "server_kept");
      assert.equal(conflicts[0].conflict.server_row.stock, 500);
      assert.equal(conflicts[0].conflict.client_row.stock, 7);
      await until(() => till.table("products").get(products[1]).run()?.stock === 500, "the server's row kept");
      assert.equal(refused.length, 1);
      assert.equal(refused[0].error.code, "validation_failed");
      assert.equal(refused[0].error.field, "quantity");
      assert.equal(till.table("sales").get(refusedSale.id).run(), undefined);
      assert.equal((await gateway.rows(admin)).sales[afterRefused.id]._version, 1, "the write after the refused one went");

      const moved = await gateway.call("POST", "/sync/push", admin, {
        device_id: "office", operations: [{ op_id: "move-1", table: "products", action: "update", data: { id: products[2], branch_id: 2, updated_at: "2026-12-02T00:00:00Z" } }],
      });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      await until(() => till.table("products").get(products[2]).run() === undefined, "the move-out");

      await until(async () => differences(copy(till, Object.keys(schema)), await gateway.rows(cashier), Object.keys(schema)).count === 0, "the till to converge");
      await till.close();
    });

    test("a till whose token moves to another branch drops that branch's rows and reads the new one", async () => {
      const south = crypto.randomUUID();
      const seeded = await gateway.call("POST", "/sync/push", admin, {
        device_id: "office", operations: [{ op_id: "south-1", table: "products", action: "insert", data: { id: south, branch_id: 2, sku: "S", name: "South", price: "1.00", updated_at: "2026-12-01T00:00:00Z" } }],
      });
      assert.equal(seeded.status, 200, JSON.stringify(seeded.body));
      const path = join(mkdtempSync(join(tmpdir(), "sg-till-moved-")), "till.json");
      const openAs = (token) => SyncClient.open({ url: `${proxy.url}/api/v1`, schema, token: () => token, persistence: new FilePersistence(path), retry: { minMs: 50, maxMs: 500 } });
      let till = await openAs(gateway.token("till-9", "CAJERO", 1));
      till.start();
      await until(() => till.table("products").get(products[0]).run(), "branch 1's products");
      await till.close();
      // The cashier now works in branch 2: the stored cursor was read under branch 1's view.
      const moved = gateway.token("till-9", "CAJERO", 2);
      till = await openAs(moved);
      till.start();
      await until(() => till.table("products").get(south).run(), "branch 2's product");
      assert.equal(till.table("products").get(products[0]).run(), undefined, "branch 1's rows dropped");
      await until(async () => differences(copy(till, Object.keys(schema)), await gateway.rows(moved), Object.keys(schema)).count === 0, "the moved till to converge");
      await till.close();
    });

    test("a till that names its device shows in the gateway's status with its unsent sales", async () => {
      const path = join(mkdtempSync(join(tmpdir(), "sg-till-device-")), "till.json");
      const token = gateway.token("till-7", "CAJERO", 1);
      const till = await SyncClient.open({
        url: `${proxy.url}/api/v1`, schema, token: () => token, persistence: new FilePersistence(path),
        retry: { minMs: 50, maxMs: 300 }, device: { name: "Till 7", platform: "node", appVersion: "1.0.0" },
      });
      till.start();
      const device = async () => {
        const { status, body } = await gateway.call("GET", "/sync/status", token);
        assert.equal(status, 200, JSON.stringify(body));
        return { overall: body, view: body.devices.find((d) => d.device_id === till.deviceId) };
      };
      await until(async () => (await device()).view?.pending_upload === 0, "the till registered and acked");
      proxy.blockPushes = true;
      for (let i = 0; i < 3; i++) await till.table("sales").insert(sale(products[0]));
      await until(async () => (await device()).view?.pending_upload === 3, "the till reporting 3 unsent sales");
      const { overall, view } = await device();
      assert.equal(view.sync_status, "pending");
      assert.equal(overall.pending_upload, 3);
      proxy.blockPushes = false;
      await till.flushed();
      await until(async () => (await device()).view?.sync_status === "up_to_date", "the till up to date both ways");
      await till.close();
    });
  });
}
