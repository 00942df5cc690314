// A sync session through a TypeScript client generated from the served OpenAPI document
// (openapi-typescript types + openapi-fetch), and nothing else. Run by scripts/client-check:
// type-checked with `tsc --strict`, then run with node:  node client_scenario.js URL TOKEN
import createClient from "openapi-fetch";
import { check, finishSession } from "./client_common.js";
import type { components, paths } from "./schema.js";

const [url, token] = process.argv.slice(2);
const client = createClient<paths>({ baseUrl: url, headers: { Authorization: `Bearer ${token}` } });

type ProductsPatch = components["schemas"]["products_Patch"];

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

  await finishSession(client, ["products", "sales"], product, "ts-client");
  console.log("client scenario (TypeScript): ok");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
