// The generated TypeScript client on a schema with every column type
// (scripts/fixtures/all_types.toml): a row with every type, a one-column update that leaves the
// others alone. Run by `scripts/client-check all-types`.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

const [url, token] = process.argv.slice(2);
const client = createClient<paths>({ baseUrl: url, headers: { Authorization: `Bearer ${token}` } });

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`client scenario (every type, TypeScript): ${message}`);
}

async function main(): Promise<void> {
  const id = crypto.randomUUID();
  const row: components["schemas"]["things_Patch"] = {
    id, label: "every type", count: 3, ratio: 0.5, amount: "12.34", flag: true,
    seen_at: "2026-11-28T10:00:00Z", day: "2026-11-28", extra: { nested: [1, 2] }, kind: "b",
  };
  const inserted = await client.POST("/api/v1/tables/things/push", {
    body: { device_id: "ts-types", operations: [{ op_id: "t-1", action: "insert", data: row }] },
  });
  check(inserted.data?.success === true, `insert: ${JSON.stringify(inserted.error)}`);
  const path = { params: { path: { pk: id } } };
  const before = (await client.GET("/api/v1/tables/things/rows/{pk}", path)).data;
  const updated = await client.POST("/api/v1/tables/things/push", {
    body: { device_id: "ts-types", operations: [{ op_id: "t-2", action: "update", data: { id, count: 4 } }] },
  });
  check(updated.data?.success === true, `update: ${JSON.stringify(updated.error)}`);
  const after = (await client.GET("/api/v1/tables/things/rows/{pk}", path)).data;
  check(after?.count === 4, `count: ${JSON.stringify(after)}`);
  for (const column of ["label", "ratio", "amount", "flag", "seen_at", "day", "kind"] as const) {
    check(after![column] === before![column], `the update changed \`${column}\``);
  }
  check(JSON.stringify(after!.extra) === JSON.stringify(before!.extra), "the update changed `extra`");
  console.log("client scenario (every type, TypeScript): ok");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
