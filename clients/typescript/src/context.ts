// What the write queue and the feed reader share of the client.
import type { Backoff, Waker } from "./backoff.js";
import type { Transport } from "./http.js";
import type { LocalState, Touched } from "./local-state.js";
import type { PersistBatch } from "./persistence/persistence.js";
import type { Emitter, Observable, SyncStatus } from "./status.js";
import type { BootstrapProgress, ConflictEvent, GatewayError, WriteErrorEvent } from "./types.js";

export interface ClientEvents {
  [name: string]: unknown;
  /** A write met another one; the local row is now what the server kept. */
  conflict: ConflictEvent;
  /** The gateway refused a write; it left the queue and the local row reverted. */
  writeError: WriteErrorEvent;
  /** Rows changed locally or remotely, by table and key. */
  change: Touched;
  bootstrap: BootstrapProgress;
}

export interface SyncContext {
  readonly transport: Transport;
  readonly state: LocalState;
  readonly status: Observable<SyncStatus>;
  readonly events: Emitter<ClientEvents>;
  /** Aborted when the client closes. */
  readonly signal: AbortSignal;
  readonly deviceId: string;
  /** Wakes sleeping loops early (the browser came back online). */
  readonly online: Waker;
  newBackoff(): Backoff;
  /** Writes a batch after every batch before it. */
  persist(batch: PersistBatch): Promise<void>;
  /** Tells subscribers and `change` listeners what a batch touched (and the device reporter
   * that the cursor or the queue moved). */
  publish(touched: Touched): void;
  /** The gateway answered: online, and when. */
  heard(): void;
  /** A request failed: offline when it got no answer; the error becomes `lastError`. */
  failed(error: unknown): void;
}

export function describe(error: unknown): GatewayError {
  if (error && typeof error === "object" && "error" in error && (error as { error: GatewayError }).error?.code) {
    return (error as { error: GatewayError }).error;
  }
  const name = (error as Error)?.name === "NetworkError" ? "network" : "client";
  return { code: name, message: (error as Error)?.message ?? String(error) };
}
