// @syncgate/client: an offline-first client for a syncgate gateway.
export { createClient, SyncClient } from "./client.js";
export type { ClientOptions } from "./client.js";
export type { ClientEvents } from "./context.js";
export { HttpError, NetworkError } from "./http.js";
export type { TokenProvider } from "./http.js";
export { IndexedDBPersistence } from "./persistence/indexeddb.js";
export { MemoryPersistence } from "./persistence/persistence.js";
export type { PersistBatch, Persistence, StoredState } from "./persistence/persistence.js";
export { ListQuery, RowQuery } from "./query.js";
export type { Filter, Query } from "./query.js";
export { Observable } from "./status.js";
export type { SyncStatus } from "./status.js";
export { Table } from "./table.js";
export { LocalState, overlay } from "./local-state.js";
export { EventStreamParser } from "./sse.js";
export type * from "./types.js";
