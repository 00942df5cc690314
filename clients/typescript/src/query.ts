// Queries over the rows the app sees (server rows with local writes on top), run in memory, and
// re-run for subscribers when a local write or a page of remote changes touches their table.
import type { Row } from "./types.js";

/** A question about one table's rows; `run()` answers it from the local copy. */
export interface Query<T> {
  readonly table: string;
  run(): T;
  /** True when two answers differ (rows are compared by identity: unchanged rows keep it). */
  differs(a: T, b: T): boolean;
}

export type Filter<R> = Partial<R> | ((row: R) => boolean);

function matcher<R>(filter: Filter<R>): (row: R) => boolean {
  if (typeof filter === "function") return filter;
  const wanted = Object.entries(filter as object);
  return (row) => wanted.every(([column, value]) => (row as Row)[column] === value);
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return (a as number) < (b as number) ? -1 : 1;
}

/** Rows of a table, filtered, ordered and limited; each call returns a new query. */
export class ListQuery<R> implements Query<R[]> {
  constructor(
    readonly table: string,
    private readonly source: () => ReadonlyMap<string, Row>,
    private readonly filters: ((row: R) => boolean)[] = [],
    private readonly order: { column: keyof R & string; descending: boolean } | null = null,
    private readonly count: number | null = null,
  ) {}

  where(filter: Filter<R>): ListQuery<R> {
    return new ListQuery(this.table, this.source, [...this.filters, matcher(filter)], this.order, this.count);
  }

  orderBy(column: keyof R & string, direction: "asc" | "desc" = "asc"): ListQuery<R> {
    return new ListQuery(this.table, this.source, this.filters, { column, descending: direction === "desc" }, this.count);
  }

  limit(count: number): ListQuery<R> {
    return new ListQuery(this.table, this.source, this.filters, this.order, count);
  }

  run(): R[] {
    let rows: R[] = [];
    for (const row of this.source().values()) {
      if (this.filters.every((keep) => keep(row as R))) rows.push(row as R);
    }
    if (this.order) {
      const { column, descending } = this.order;
      rows.sort((a, b) => (descending ? -1 : 1) * compare(a[column], b[column]));
    }
    if (this.count !== null) rows = rows.slice(0, this.count);
    return rows;
  }

  differs(a: R[], b: R[]): boolean {
    return a.length !== b.length || a.some((row, i) => row !== b[i]);
  }
}

/** One row by key (undefined when the device holds none). */
export class RowQuery<R> implements Query<R | undefined> {
  constructor(
    readonly table: string,
    private readonly key: string,
    private readonly source: () => ReadonlyMap<string, Row>,
  ) {}

  run(): R | undefined {
    return this.source().get(this.key) as R | undefined;
  }

  differs(a: R | undefined, b: R | undefined): boolean {
    return a !== b;
  }
}
