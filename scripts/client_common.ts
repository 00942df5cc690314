// What every generated-client scenario (scripts/client_scenario*.ts) does after its writes: pull,
// page the changes feed by cursor, register a device and acknowledge the feed, through the
// generated client alone. Only generic endpoints, so it type-checks against every schema.
import type { Client } from "openapi-fetch";
import type { paths } from "./schema.js";

export function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`client scenario: ${message}`);
}

export async function finishSession(client: Client<paths>, tables: string[], key: unknown, device: string): Promise<void> {
  const page = await client.POST("/api/v1/sync/pull", { body: { tables, limit: 1 } });
  check(page.data?.success === true && page.data.has_more, `pull: ${JSON.stringify(page.error)}`);
  const seen: unknown[] = [];
  let cursor = "";
  for (;;) {
    const feed = await client.GET("/api/v1/sync/changes", { params: { query: { cursor, limit: 1 } } });
    check(feed.data !== undefined, `changes: ${JSON.stringify(feed.error)}`);
    seen.push(...feed.data!.changes.map((change) => change.key));
    cursor = feed.data!.cursor;
    if (!feed.data!.has_more) break;
  }
  // Each row once, ours among them (other sessions may have written to the same server).
  check(new Set(seen).size === seen.length && seen.includes(key), `changes feed: ${JSON.stringify(seen)}`);
  const registered = await client.POST("/api/v1/sync/devices", {
    body: { id: device, name: "generated client", platform: "script", app_version: "1" },
  });
  check(registered.data?.token.startsWith("sgd_") === true, `device: ${JSON.stringify(registered.error)}`);
  const acked = await client.POST("/api/v1/sync/ack", { body: { device_id: device, cursor } });
  check(acked.data?.acked_cursor === cursor, `ack: ${JSON.stringify(acked.error)}`);
}
