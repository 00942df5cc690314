// Node's store: the state in memory, a snapshot file, and a journal of batches appended after
// it. Each batch is one JSON line, appended; a durable batch (a local write) is flushed to disk
// (fdatasync) before `apply` resolves, so a write the app was told is queued survives a crash. A torn last
// line (the process died while appending) is skipped on load: that batch never resolved. The
// journal is folded into a new snapshot (written aside, then renamed) once it grows.
import { closeSync, existsSync, fdatasyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { StateMaps } from "./persistence.js";
import type { PersistBatch, Persistence, StoredState } from "./persistence.js";

export interface FilePersistenceOptions {
  /** Flush durable batches (local writes) to disk before they resolve (default true). */
  durable?: boolean;
  /** Fold the journal into the snapshot past this size (default 8 MiB). */
  compactAfterBytes?: number;
}

export class FilePersistence implements Persistence {
  private maps = new StateMaps();
  private journal: number | null = null;
  private journalBytes = 0;
  private readonly durable: boolean;
  private readonly compactAfter: number;

  /** `path`: the snapshot file; the journal is `path + ".journal"`. */
  constructor(readonly path: string, options: FilePersistenceOptions = {}) {
    this.durable = options.durable ?? true;
    this.compactAfter = options.compactAfterBytes ?? 8 * 1024 * 1024;
  }

  private get journalPath(): string {
    return `${this.path}.journal`;
  }

  async load(): Promise<StoredState> {
    this.maps = new StateMaps();
    if (existsSync(this.path)) {
      const snapshot = JSON.parse(readFileSync(this.path, "utf8")) as StoredState;
      this.maps.apply({ putRows: snapshot.rows, putQueue: snapshot.queue, meta: snapshot.meta });
    }
    if (existsSync(this.journalPath)) {
      const text = readFileSync(this.journalPath, "utf8");
      for (const line of text.split("\n")) {
        if (!line) continue;
        let batch: PersistBatch;
        try {
          batch = JSON.parse(line) as PersistBatch;
        } catch {
          break; // the torn last line of a batch that never finished
        }
        this.maps.apply(batch);
      }
    }
    this.compact();
    return this.maps.state();
  }

  async apply(batch: PersistBatch): Promise<void> {
    if (this.journal === null) throw new Error("FilePersistence: load() first");
    const line = Buffer.from(`${JSON.stringify(batch)}\n`);
    writeSync(this.journal, line);
    // Flushing a later line flushes the lines before it; a crash loses only a tail of
    // batches that did not need flushing, and a torn line there ends the replay.
    if (this.durable && batch.durable) fdatasyncSync(this.journal);
    this.maps.apply(batch);
    this.journalBytes += line.length;
    if (this.journalBytes > this.compactAfter) this.compact();
  }

  /** Writes the whole state as the new snapshot and starts an empty journal. */
  private compact(): void {
    if (this.journal !== null) closeSync(this.journal);
    const aside = `${this.path}.tmp`;
    writeFileSync(aside, JSON.stringify(this.maps.state()));
    const fd = openSync(aside, "r+");
    fdatasyncSync(fd);
    closeSync(fd);
    renameSync(aside, this.path);
    this.journal = openSync(this.journalPath, "w");
    this.journalBytes = 0;
  }

  async close(): Promise<void> {
    if (this.journal !== null) {
      closeSync(this.journal);
      this.journal = null;
    }
  }
}
