// The device's rows in memory: what the server last said of each row, the writes still
// queued, and what the app sees — the server's row with the queued writes on top. Keeping the
// two apart is the rebase: a server change to a row with queued writes updates the server's
// side, and the app goes on seeing its own writes over it until the gateway has answered them.
import type { Action, QueuedWrite, Row, ServerRecord } from "./types.js";

/** Which rows of which tables a batch touched; subscriptions re-run only for those tables. */
export type Touched = Map<string, Set<string>>;

function touch(touched: Touched, table: string, key: string): void {
  let keys = touched.get(table);
  if (!keys) touched.set(table, (keys = new Set()));
  keys.add(key);
}

/** A queued write applied over a row: the row the app sees after it (null: none). */
export function overlay(base: Row | null, action: Action, data: Row): Row | null {
  switch (action) {
    case "insert":
      return { ...data };
    case "upsert":
      return { ...(base ?? {}), ...data };
    case "update":
      return base ? { ...base, ...data } : null;
    case "delete":
      return null;
  }
}

export class LocalState {
  private server = new Map<string, Map<string, ServerRecord>>();
  private pending = new Map<string, Map<string, QueuedWrite[]>>();
  private visibleRows = new Map<string, Map<string, Row>>();
  queue: QueuedWrite[] = [];

  constructor(readonly tables: readonly string[]) {
    for (const table of tables) {
      this.server.set(table, new Map());
      this.pending.set(table, new Map());
      this.visibleRows.set(table, new Map());
    }
  }

  load(rows: ServerRecord[], queue: QueuedWrite[]): void {
    for (const record of rows) this.server.get(record.table)?.set(record.key, record);
    for (const write of queue) this.addPending(write);
    for (const table of this.tables) {
      const keys = new Set([...this.server.get(table)!.keys(), ...this.pending.get(table)!.keys()]);
      for (const key of keys) this.refresh(table, key);
    }
  }

  /** The rows of `table` the app sees, by key. */
  rows(table: string): ReadonlyMap<string, Row> {
    const rows = this.visibleRows.get(table);
    if (!rows) throw new Error(`unknown table \`${table}\``);
    return rows;
  }

  serverRecord(table: string, key: string): ServerRecord | undefined {
    return this.server.get(table)?.get(key);
  }

  hasPending(table: string, key: string): boolean {
    return (this.pending.get(table)?.get(key)?.length ?? 0) > 0;
  }

  /** Puts a local write on top of the row at once. */
  enqueue(write: QueuedWrite, touched: Touched): void {
    this.addPending(write);
    this.refresh(write.table, write.key);
    touch(touched, write.table, write.key);
  }

  /** Takes an answered write off the queue; the row falls back to the server's side. */
  settle(write: QueuedWrite, touched: Touched): void {
    this.queue = this.queue.filter((w) => w.seq !== write.seq);
    const writes = this.pending.get(write.table)?.get(write.key);
    if (writes) {
      const left = writes.filter((w) => w.seq !== write.seq);
      if (left.length) this.pending.get(write.table)!.set(write.key, left);
      else this.pending.get(write.table)!.delete(write.key);
    }
    this.refresh(write.table, write.key);
    touch(touched, write.table, write.key);
  }

  /**
   * What the server says of a row, from the feed, the stream or a push answer. An answer older
   * than what the device holds (a feed page read before a push answered) is ignored. Returns
   * the record to persist, or null when nothing changed.
   */
  applyServer(record: ServerRecord, touched: Touched): ServerRecord | null {
    const rows = this.server.get(record.table);
    if (!rows) return null; // a table this client does not sync
    const held = rows.get(record.key);
    if (held && held.version > record.version) return null;
    rows.set(record.key, record);
    this.refresh(record.table, record.key);
    touch(touched, record.table, record.key);
    return record;
  }

  /** Forgets every server row of `table` (a changed view): it is read again. */
  clearTable(table: string, touched: Touched): void {
    const rows = this.server.get(table);
    if (!rows) return;
    const keys = [...rows.keys()];
    rows.clear();
    for (const key of keys) {
      this.refresh(table, key);
      touch(touched, table, key);
    }
  }

  private addPending(write: QueuedWrite): void {
    this.queue.push(write);
    const byKey = this.pending.get(write.table);
    if (!byKey) throw new Error(`unknown table \`${write.table}\``);
    const writes = byKey.get(write.key);
    if (writes) writes.push(write);
    else byKey.set(write.key, [write]);
  }

  private refresh(table: string, key: string): void {
    const record = this.server.get(table)!.get(key);
    let row: Row | null = record && !record.deleted ? record.row : null;
    for (const write of this.pending.get(table)!.get(key) ?? []) row = overlay(row, write.action, write.data);
    if (row) this.visibleRows.get(table)!.set(key, row);
    else this.visibleRows.get(table)!.delete(key);
  }
}
