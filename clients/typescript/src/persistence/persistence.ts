// Where a device keeps what it holds between runs. The client keeps its working copy in memory
// and hands every change to a persistence as one batch, written atomically: a page of the feed
// with its cursor, a local write with the op-id counter, a push answer taking writes off the
// queue together with the rows the server returned. A reload sees all of a batch or none of it.
import type { QueuedWrite, ServerRecord } from "../types.js";

export interface StoredState {
  rows: ServerRecord[];
  queue: QueuedWrite[];
  meta: { [key: string]: unknown };
}

export interface PersistBatch {
  /**
   * The batch holds a local write (or the device's identity): it must be on disk before
   * `apply` resolves. Other batches — what the server sent, writes it answered — may be lost
   * in a crash (the last ones, whole), since they are read or answered again: a lost page
   * leaves its cursor behind it, a lost answer leaves its writes queued, and the gateway
   * answers their op ids with their first outcome.
   */
  durable?: boolean;
  /** Tables whose rows are dropped first (a changed view reads them again). */
  clearTables?: string[];
  putRows?: ServerRecord[];
  putQueue?: QueuedWrite[];
  /** Queue entries (by `seq`) taken off the queue. */
  deleteQueue?: number[];
  meta?: { [key: string]: unknown };
}

export interface Persistence {
  load(): Promise<StoredState>;
  apply(batch: PersistBatch): Promise<void>;
  close(): Promise<void>;
}

/** Applies a batch to plain maps; the memory and file persistences share it. */
export class StateMaps {
  rows = new Map<string, ServerRecord>();
  queue = new Map<number, QueuedWrite>();
  meta: { [key: string]: unknown } = {};

  static rowId(table: string, key: string): string {
    return `${table}\u0000${key}`;
  }

  apply(batch: PersistBatch): void {
    if (batch.clearTables?.length) {
      const cleared = new Set(batch.clearTables);
      for (const [id, record] of this.rows) if (cleared.has(record.table)) this.rows.delete(id);
    }
    for (const record of batch.putRows ?? []) this.rows.set(StateMaps.rowId(record.table, record.key), record);
    for (const write of batch.putQueue ?? []) this.queue.set(write.seq, write);
    for (const seq of batch.deleteQueue ?? []) this.queue.delete(seq);
    if (batch.meta) Object.assign(this.meta, batch.meta);
  }

  state(): StoredState {
    return {
      rows: [...this.rows.values()],
      queue: [...this.queue.values()].sort((a, b) => a.seq - b.seq),
      meta: { ...this.meta },
    };
  }
}

/** Keeps nothing past the process: for tests and for apps that want no local copy. */
export class MemoryPersistence implements Persistence {
  private maps = new StateMaps();

  async load(): Promise<StoredState> {
    return structuredClone(this.maps.state());
  }

  async apply(batch: PersistBatch): Promise<void> {
    this.maps.apply(structuredClone(batch));
  }

  async close(): Promise<void> {}
}
