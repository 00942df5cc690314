// The generated TypeScript client on a schema with every column type
// (scripts/fixtures/all_types.toml): a row with every type (per-table push) and one through the
// generic push, a one-column update that leaves the others alone, pull, the changes feed by
// cursor, a device and an ack. Run by `scripts/client-check all-types`.
import createClient from "openapi-fetch";
import { check, finishSession } from "./client_common.js";
import type { components, paths } from "./schema.js";

const [url, token] = process.argv.slice(2);
const client = createClient<paths>({ baseUrl: url, headers: { Authorization: `Bearer ${token}` } });

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

  const tagged = await client.POST("/api/v1/sync/push", {
    body: { device_id: "ts-types", operations: [{ op_id: "g-1", table: "tags", action: "insert", data: { id: 8, name: "eight" } }] },
  });
  check(tagged.data?.success === true, `generic insert: ${JSON.stringify(tagged.error)}`);
  await finishSession(client, ["things", "tags"], id, "ts-types");
  console.log("client scenario (every type, TypeScript): ok");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
