// The shapes the client shares with the gateway's wire format and with the generated schema
// module (`syncgate client-types`).

/** One table's types, as the generated module declares them. */
export interface TableTypes {
  row: object;
  insert: object;
  patch: object;
}

/** Every synced table by name; the generated module's `Tables` interface fits it. */
export type TablesShape = { [table: string]: TableTypes };

/** What the client must know of each table at run time: the generated `schema` constant. */
export type SchemaSpec<T extends TablesShape> = { readonly [K in keyof T]: { readonly primaryKey: string } };

/** A row as JSON, the way the gateway sends it (with `_version`). */
export type Row = { [column: string]: unknown };

export type Action = "insert" | "update" | "upsert" | "delete";

/** One entry of the changes feed or of the live stream. */
export interface Change {
  seq: number;
  table: string;
  key: string;
  version: number;
  deleted: boolean;
  /** The row left the caller's view (a move-out); it carries no row. */
  removed?: boolean;
  row?: Row | null;
}

/** What the device holds of one row as the server last told it (a tombstone when deleted). */
export interface ServerRecord {
  table: string;
  key: string;
  version: number;
  deleted: boolean;
  row: Row | null;
}

/** A local write waiting for the gateway. Its op id is fixed when it is queued. */
export interface QueuedWrite {
  /** Local order: writes are pushed in this order. */
  seq: number;
  opId: string;
  table: string;
  action: Action;
  key: string;
  data: Row;
  /** The server version the write was made on, when the device had one. */
  baseVersion?: number;
  queuedAt: number;
  attempts: number;
}

/** The gateway's error body: `{"error": {code, message, details}}`, or one operation's error. */
export interface GatewayError {
  code: string;
  message: string;
  field?: string;
  details?: { [key: string]: unknown };
}

/** What the gateway reports of a write that met another one (the table's strategy decided). */
export interface ConflictInfo {
  strategy: string;
  resolution: string;
  reason?: string;
  conflict_id?: string | null;
  server_row?: Row | null;
  client_row?: Row | null;
}

/** A write the gateway answered with a conflict; the local row is now what the server kept. */
export interface ConflictEvent {
  write: QueuedWrite;
  conflict: ConflictInfo;
  /** The row as it is on the server now (absent when the caller may no longer read it). */
  row: Row | null;
}

/** A write the gateway refused; it was taken off the queue and the local row reverted. */
export interface WriteErrorEvent {
  write: QueuedWrite;
  error: GatewayError;
}

/** Where the first read of the device's rows stands. */
export interface BootstrapProgress {
  /** Rows and tombstones applied so far. */
  changes: number;
  pages: number;
  done: boolean;
}
