// The browser's store: IndexedDB, written through the raw API (three object stores and one
// transaction per batch need no wrapper library; the few promise adapters are below).
import type { QueuedWrite, ServerRecord } from "../types.js";
import type { PersistBatch, Persistence, StoredState } from "./persistence.js";

const VERSION = 1;

function done(request: IDBRequest): Promise<any> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

export class IndexedDBPersistence implements Persistence {
  private db: Promise<IDBDatabase>;

  /** `name`: the IndexedDB database, one per app and user (e.g. `syncgate:shop:till-3`). */
  constructor(readonly name: string, factory: IDBFactory = globalThis.indexedDB) {
    if (!factory) throw new Error("IndexedDB is not available here; use FilePersistence in Node");
    const open = factory.open(name, VERSION);
    open.onupgradeneeded = () => {
      const db = open.result;
      db.createObjectStore("rows", { keyPath: ["table", "key"] });
      db.createObjectStore("queue", { keyPath: "seq" });
      db.createObjectStore("meta");
    };
    this.db = done(open);
  }

  async load(): Promise<StoredState> {
    const db = await this.db;
    const tx = db.transaction(["rows", "queue", "meta"], "readonly");
    const [rows, queue, metaKeys, metaValues] = await Promise.all([
      done(tx.objectStore("rows").getAll()) as Promise<ServerRecord[]>,
      done(tx.objectStore("queue").getAll()) as Promise<QueuedWrite[]>,
      done(tx.objectStore("meta").getAllKeys()) as Promise<string[]>,
      done(tx.objectStore("meta").getAll()) as Promise<unknown[]>,
    ]);
    const meta: { [key: string]: unknown } = {};
    metaKeys.forEach((key, i) => (meta[key] = metaValues[i]));
    return { rows, queue, meta };
  }

  async apply(batch: PersistBatch): Promise<void> {
    const db = await this.db;
    const tx = db.transaction(["rows", "queue", "meta"], "readwrite", { durability: batch.durable ? "strict" : "relaxed" });
    const rows = tx.objectStore("rows");
    const queue = tx.objectStore("queue");
    for (const table of batch.clearTables ?? []) {
      // Arrays sort after strings in IndexedDB keys, so [table, []] bounds every key of table.
      rows.delete(IDBKeyRange.bound([table], [table, []]));
    }
    for (const record of batch.putRows ?? []) rows.put(record);
    for (const write of batch.putQueue ?? []) queue.put(write);
    for (const seq of batch.deleteQueue ?? []) queue.delete(seq);
    for (const [key, value] of Object.entries(batch.meta ?? {})) tx.objectStore("meta").put(value, key);
    await committed(tx);
  }

  async close(): Promise<void> {
    (await this.db).close();
  }
}
