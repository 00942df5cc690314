// The client's copies against a model: a seeded random sequence of writes by three devices
// (two in branch 1, one of them long-polling instead of holding a stream, and one in branch 2),
// moves between branches by the head office, deletes, and faults — answers lost on their way
// back, the gateway stopped (SIGTERM) or killed (SIGKILL) and started again, devices restarted
// from their stores — then each device's copy is compared with what the gateway answers fresh
// for its token. The figure is the number of rows that differ; it must be 0.
// SGTEST_SEED picks the sequence (printed on failure); SGTEST_STEPS its length (default 300).
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FilePersistence, SyncClient } from "../dist/node.js";
import { backends, copy, differences, Gateway, Proxy } from "./harness.mjs";

const schema = { products: { primaryKey: "id" }, sales: { primaryKey: "id" } };
const SEED = Number(process.env.SGTEST_SEED ?? 20261205);
const STEPS = Number(process.env.SGTEST_STEPS ?? 300);

/** mulberry32: a small seeded generator, so a failing sequence can be run again. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const backend of backends()) {
  describe(`device copies against the gateway on ${backend}`, () => {
    const gateway = new Gateway(backend);
    let proxy;
    before(async () => {
      await gateway.start();
      proxy = new Proxy(gateway);
      await proxy.listen();
    });
    after(async () => {
      await proxy?.close();
      await gateway.close();
    });

    test(`seed ${SEED}, ${STEPS} steps: every copy equals the gateway's answer`, async () => {
      const rand = random(SEED);
      const pick = (list) => list[Math.floor(rand() * list.length)];
      const admin = gateway.token("office", "ADMIN", 1);
      const dir = mkdtempSync(join(tmpdir(), "sg-model-"));
      const devices = [
        { name: "north-a", branch: 1 },
        { name: "north-b", branch: 1, live: "long-poll" },
        { name: "south", branch: 2 },
      ].map((d) => ({ ...d, token: gateway.token(d.name, "BODEGA", d.branch), path: join(dir, `${d.name}.json`) }));
      const open = async (device) => {
        device.client = await SyncClient.open({
          url: `${proxy.url}/api/v1`, schema, token: () => device.token,
          persistence: new FilePersistence(device.path, { durable: false }), retry: { minMs: 20, maxMs: 300 },
          live: device.live ?? "auto", longPollWait: 2,
        });
        device.client.start();
      };
      for (const device of devices) await open(device);
      let clock = Date.parse("2026-12-01T00:00:00Z");
      const stamp = () => new Date((clock += 1000) + (rand() < 0.1 ? -5000 : 0)).toISOString();
      const log = [];
      let stopped = false;
      for (let step = 0; step < STEPS; step++) {
        const roll = rand();
        const device = pick(devices);
        const visible = device.client.table("products").all().run();
        if (roll < 0.35 || visible.length === 0) {
          const id = crypto.randomUUID();
          log.push(`${device.name} inserts ${id.slice(0, 8)}`);
          await device.client.table("products").insert({ id, sku: `M${step}`, name: `Model ${step}`, price: "1.00", stock: Math.floor(rand() * 50), updated_at: stamp() });
        } else if (roll < 0.65) {
          const row = pick(visible);
          log.push(`${device.name} updates ${row.id.slice(0, 8)}`);
          await device.client.table("products").update({ id: row.id, stock: Math.floor(rand() * 50), updated_at: stamp() });
        } else if (roll < 0.75) {
          const row = pick(visible);
          log.push(`${device.name} deletes ${row.id.slice(0, 8)}`);
          await device.client.table("products").delete(row.id);
        } else if (roll < 0.85 && !stopped) {
          const row = pick(visible);
          const branch = row.branch_id === 1 ? 2 : 1;
          log.push(`office moves ${row.id.slice(0, 8)} to ${branch}`);
          await gateway.call("POST", "/sync/push", admin, {
            device_id: "office", atomic: false,
            operations: [{ op_id: `move-${step}`, table: "products", action: "update", data: { id: row.id, branch_id: branch, updated_at: stamp() } }],
          });
        } else if (roll < 0.9) {
          log.push("an answer is lost");
          proxy.loseNextPushAnswer();
        } else if (roll < 0.95) {
          log.push(stopped ? "gateway starts" : "gateway stops");
          if (stopped) await gateway.start();
          else await gateway.stop(rand() < 0.5 ? "SIGKILL" : "SIGTERM");
          stopped = !stopped;
        } else {
          log.push(`${device.name} restarts`);
          await device.client.close();
          await open(device);
        }
        if (rand() < 0.3) await new Promise((r) => setTimeout(r, Math.floor(rand() * 30)));
      }
      if (stopped) await gateway.start();
      for (const device of devices) await device.client.flushed();

      // The figure: rows differing between each copy and the gateway's fresh answer, once the
      // devices have had time to hear everything (they converge or the count stays above 0).
      let figure = Infinity;
      let details = [];
      const end = Date.now() + 30_000;
      while (figure > 0 && Date.now() < end) {
        figure = 0;
        details = [];
        for (const device of devices) {
          const diff = differences(copy(device.client, Object.keys(schema)), await gateway.rows(device.token), Object.keys(schema));
          figure += diff.count;
          details.push(...diff.details.map((d) => ({ at: device.name, ...d })));
        }
        if (figure > 0) await new Promise((r) => setTimeout(r, 200));
      }
      for (const device of devices) await device.client.close();
      console.log(`model seed ${SEED}: ${STEPS} steps, ${figure} rows differ`);
      assert.equal(figure, 0, `seed ${SEED}: ${figure} rows differ, e.g. ${JSON.stringify(details.slice(0, 3))}\nlast steps: ${log.slice(-15).join("; ")}`);
    });
  });
}
