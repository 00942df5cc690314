// A sync session through a TypeScript client generated from the served OpenAPI document
// (openapi-typescript types + openapi-fetch), and nothing else. Run by scripts/client-check:
// type-checked with `tsc --strict`, then run with node:
//   node client_scenario.js URL TOKEN CASHIER_TOKEN
import createClient from "openapi-fetch";
import { check, finishSession } from "./client_common.js";
import type { components, paths } from "./schema.js";

const [url, token, cashierToken] = process.argv.slice(2);
const client = createClient<paths>({ baseUrl: url, headers: { Authorization: `Bearer ${token}` } });

type ProductsPatch = components["schemas"]["products_Patch"];
type ProductsRow = components["schemas"]["products_Row"];

async function main(): Promise<void> {
  const product = crypto.randomUUID();
  const created: ProductsPatch = {
    id: product, branch_id: 1, sku: "T-1", name: "Tea", price: "2.00", stock: 50,
    category: "drink", active: true, updated_at: "2026-11-28T10:00:00Z",
  };
  const inserted = await client.POST("/api/v1/tables/products/push", {
    body: { device_id: "ts-client", operations: [{ op_id: "p-1", action: "insert", data: created }] },
  });
  check(inserted.data?.success === true && inserted.data.applied.length === 1, `per-table insert: ${JSON.stringify(inserted.error)}`);

  const sold = await client.POST("/api/v1/sync/push", {
    body: {
      device_id: "ts-client",
      operations: [{
        op_id: "s-1", table: "sales", action: "insert",
        data: { id: crypto.randomUUID(), branch_id: 1, product_id: product, quantity: 2, unit_price: "2.00", sold_at: "2026-11-28T10:01:00Z", cashier: "ana" },
      }],
    },
  });
  check(sold.data?.success === true && sold.data.applied.length === 1, `generic insert: ${JSON.stringify(sold.error)}`);

  // An update that names one column changes that column only.
  const row = { params: { path: { pk: product } } };
  const before = (await client.GET("/api/v1/tables/products/rows/{pk}", row)).data;
  const patch: ProductsPatch = { id: product, price: "2.50" };
  const updated = await client.POST("/api/v1/tables/products/push", {
    body: { device_id: "ts-client", operations: [{ op_id: "p-2", action: "update", data: patch }] },
  });
  check(updated.data?.success === true, `update: ${JSON.stringify(updated.error)}`);
  const after = (await client.GET("/api/v1/tables/products/rows/{pk}", row)).data;
  check(before !== undefined && after !== undefined && after.price === "2.50", `price: ${JSON.stringify(after)}`);
  for (const column of ["sku", "name", "stock", "category", "active", "branch_id"] as const) {
    check(after![column] === before![column], `the update changed \`${column}\``);
  }

  // A move-out: a branch-1 cashier's copy, kept from the typed per-table feed alone, loses the
  // product when it moves to branch 2, through a removal that carries no row.
  const cashier = createClient<paths>({ baseUrl: url, headers: { Authorization: `Bearer ${cashierToken}` } });
  const held = new Map<string, ProductsRow>();
  const readOn = async (from: string): Promise<[string, string[]]> => {
    const removed: string[] = [];
    let cursor = from;
    for (;;) {
      const page = await cashier.GET("/api/v1/tables/products/changes", { params: { query: { cursor, limit: 1000 } } });
      check(page.data !== undefined, `cashier feed: ${JSON.stringify(page.error)}`);
      for (const change of page.data!.changes) {
        const key = String(change.key);
        if (change.removed === true) removed.push(key);
        if (change.deleted) held.delete(key);
        else if (change.row !== undefined) held.set(key, change.row);
      }
      cursor = page.data!.cursor;
      if (!page.data!.has_more) return [cursor, removed];
    }
  };
  let [cursor] = await readOn("");
  check(held.get(product)?.price === "2.50", "the cashier holds the product");
  const moved = await client.POST("/api/v1/tables/products/push", {
    body: { device_id: "ts-client", operations: [{ op_id: "p-3", action: "update", data: { id: product, branch_id: 2 } }] },
  });
  check(moved.data?.success === true, `move to branch 2: ${JSON.stringify(moved.error)}`);
  const [, removed] = await readOn(cursor);
  check(removed.length === 1 && removed[0] === product, `one removal of the product: ${JSON.stringify(removed)}`);
  check(!held.has(product), "the cashier's copy dropped the product");

  await finishSession(client, ["products", "sales"], product, "ts-client");
  console.log("client scenario (TypeScript): ok");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
