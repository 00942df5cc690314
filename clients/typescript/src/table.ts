// One table as the app uses it: writes that apply locally at once and queue for the gateway,
// and queries over the local copy.
import { ListQuery, RowQuery } from "./query.js";
import type { Filter } from "./query.js";
import type { Action, Row } from "./types.js";

/** What a table needs of the client. */
export interface TableBackend {
  write(table: string, action: Action, data: Row): Promise<void>;
  rows(table: string): ReadonlyMap<string, Row>;
}

export class Table<R, I, P> {
  constructor(
    private readonly backend: TableBackend,
    readonly name: string,
    readonly primaryKey: string,
  ) {}

  /** Adds a row; resolves once the write is stored on the device and queued. */
  insert(row: I): Promise<void> {
    return this.backend.write(this.name, "insert", row as Row);
  }

  /** Changes the sent columns only (the primary key names the row). */
  update(patch: P): Promise<void> {
    return this.backend.write(this.name, "update", patch as Row);
  }

  /** Inserts the row, or changes the sent columns of the row with its key. */
  upsert(row: I): Promise<void> {
    return this.backend.write(this.name, "upsert", row as Row);
  }

  /** Deletes the row (the gateway keeps a tombstone, so other devices learn of it). */
  delete(key: string | number): Promise<void> {
    return this.backend.write(this.name, "delete", { [this.primaryKey]: key });
  }

  /** The row with `key`, as the app sees it now; `subscribe` to follow it. */
  get(key: string | number): RowQuery<R> {
    return new RowQuery<R>(this.name, String(key), () => this.backend.rows(this.name));
  }

  all(): ListQuery<R> {
    return new ListQuery<R>(this.name, () => this.backend.rows(this.name));
  }

  /** Rows whose columns equal `filter`'s values, or for which `filter` returns true. */
  where(filter: Filter<R>): ListQuery<R> {
    return this.all().where(filter);
  }
}
