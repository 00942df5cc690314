// An in-process stand-in for the gateway's push and feed, for the client's unit tests: rows
// with versions, a feed by position, op-id replay, server_wins conflicts on a stale
// base_version, and faults the tests switch on. The end-to-end tests use the real gateway.
export class FakeGateway {
  rows = new Map(); // key -> {version, deleted, row, seq}
  seq = 0;
  applied = new Map(); // op_id -> outcome
  pushes = [];
  /** Faults: functions returning a Response or throwing, consumed one per push request. */
  pushFaults = [];
  refuseKeys = new Set();
  tokens = [];
  validTokens = null;

  write(table, key, row, deleted = false) {
    const held = this.rows.get(key);
    const version = (held?.version ?? 0) + 1;
    const stored = { ...row, _version: version };
    this.rows.set(key, { table, version, deleted, row: stored, seq: ++this.seq });
    return { version, row: stored };
  }

  fetch = async (url, init = {}) => {
    const u = new URL(url);
    const token = init.headers?.authorization?.slice(7);
    this.tokens.push(token);
    if (this.validTokens && !this.validTokens.has(token)) return json(401, { error: { code: "unauthorized", message: "expired" } });
    if (u.pathname.endsWith("/sync/push")) {
      const body = JSON.parse(init.body);
      this.pushes.push(body);
      const fault = this.pushFaults.shift();
      if (fault) {
        const answer = await fault(() => this.push(body));
        if (answer) return answer;
      }
      return json(200, this.push(body));
    }
    if (u.pathname.endsWith("/sync/changes")) {
      const after = Number((u.searchParams.get("cursor") ?? "0").split(".")[0]);
      const changes = [...this.rows.entries()]
        .filter(([, r]) => r.seq > after)
        .sort((a, b) => a[1].seq - b[1].seq)
        .map(([key, r]) => ({ seq: r.seq, table: r.table, key, version: r.version, deleted: r.deleted, row: r.row }));
      if (!changes.length && u.searchParams.get("wait")) await new Promise((r) => setTimeout(r, 20));
      return json(200, { changes, cursor: String(Math.max(after, ...changes.map((c) => c.seq))), has_more: false });
    }
    return json(404, { error: { code: "not_found", message: u.pathname } });
  };

  push(body) {
    const answer = { success: true, applied: [], conflicts: [], errors: [], cursor: String(this.seq) };
    body.operations.forEach((op, index) => {
      const replay = this.applied.get(op.op_id);
      if (replay) {
        answer[replay.list].push({ ...replay.outcome, index, replayed: true });
        return;
      }
      const key = String(op.data.id);
      let list = "applied";
      let outcome;
      const held = this.rows.get(key);
      if (this.refuseKeys.has(key)) {
        list = "errors";
        outcome = { index, op_id: op.op_id, table: op.table, status: "error", error: { code: "validation_failed", message: "refused", field: "name" } };
      } else if (op.base_version !== undefined && held && held.version > op.base_version) {
        list = "conflicts";
        outcome = {
          index, op_id: op.op_id, table: op.table, key, status: "conflict", version: held.version, deleted: held.deleted, row: held.row,
          conflict: { strategy: "server_wins", resolution: "server_kept", server_row: held.row, client_row: op.data },
        };
      } else {
        const base = op.action === "update" || op.action === "upsert" ? (held?.row ?? {}) : {};
        const { _version, ...rest } = base;
        const { version, row } = this.write(op.table, key, { ...rest, ...op.data }, op.action === "delete");
        outcome = { index, op_id: op.op_id, table: op.table, key, status: "applied", version, deleted: op.action === "delete", row };
      }
      this.applied.set(op.op_id, { list, outcome });
      answer[list].push(outcome);
    });
    return answer;
  }
}

export function json(status, body) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

export const schema = { items: { primaryKey: "id" } };

export async function until(check, what, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
