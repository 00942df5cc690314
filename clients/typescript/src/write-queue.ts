// Pushes the queued writes in order, in batches, whenever the gateway can be reached, and
// settles each write by the gateway's answer. Every write keeps the op id it was queued with,
// so a retry after a lost answer or a crash is answered by the gateway's replay instead of being
// applied twice. Pushes use `atomic: false`, so a refused write does not hold back the others.
import { sleep, Waker } from "./backoff.js";
import { HttpError, NetworkError } from "./http.js";
import type { SyncContext } from "./context.js";
import type { Touched } from "./local-state.js";
import type { ConflictInfo, GatewayError, QueuedWrite, Row, ServerRecord } from "./types.js";

/** One operation's outcome in a push answer (`applied`, `conflicts` or `errors`). */
interface Outcome {
  index: number;
  op_id?: string;
  table: string;
  key?: string;
  status: string;
  version?: number;
  deleted?: boolean;
  row?: Row | null;
  conflict?: ConflictInfo;
  error?: GatewayError;
  replayed?: boolean;
}

interface PushAnswer {
  applied: Outcome[];
  conflicts: Outcome[];
  errors: Outcome[];
}

/**
 * Per-operation failures that say nothing about the write itself: the same op id is tried
 * again later. Every other refusal (validation, scope, `rejected_by_hook`, …) is final.
 */
const RETRIED_CODES = new Set(["contended", "internal", "hook_failed", "database_unavailable"]);

export class WriteQueue {
  private readonly wake = new Waker();
  private readonly drained = new Waker();
  private batchLimit: number;

  constructor(private readonly ctx: SyncContext, private readonly batchSize: number) {
    this.batchLimit = batchSize;
  }

  /** A write was queued: push soon. */
  nudge(): void {
    this.wake.wake();
  }

  /** Resolves once every write queued so far has been answered. */
  async flushed(): Promise<void> {
    while (this.ctx.state.queue.length && !this.ctx.signal.aborted) await this.drained.promise;
  }

  async run(): Promise<void> {
    const backoff = this.ctx.newBackoff();
    while (!this.ctx.signal.aborted) {
      const batch = this.ctx.state.queue.slice(0, this.batchLimit);
      if (!batch.length) {
        this.drained.wake();
        await sleep(60_000, this.ctx.signal, this.wake);
        continue;
      }
      let retryLater: boolean;
      try {
        retryLater = await this.push(batch);
        this.batchLimit = this.batchSize;
      } catch (error) {
        if (this.ctx.signal.aborted) return;
        this.ctx.failed(error);
        if (error instanceof HttpError && !error.retryable && error.status !== 401) {
          // The gateway refused the whole request: find the write it cannot take by pushing
          // one at a time, then take that one off the queue and say why.
          if (batch.length > 1) this.batchLimit = 1;
          else await this.refuse(batch[0]!, error.error);
          continue;
        }
        retryLater = error instanceof NetworkError || error instanceof HttpError;
        if (!retryLater) throw error;
      }
      if (retryLater) await sleep(backoff.next(), this.ctx.signal, this.ctx.online);
      else backoff.reset();
    }
    this.drained.wake(); // closed: whoever waits in flushed() stops waiting
  }

  /** Pushes one batch; returns true when some of it must be tried again later. */
  private async push(batch: QueuedWrite[]): Promise<boolean> {
    for (const write of batch) write.attempts++;
    const operations = batch.map((write) => ({
      op_id: write.opId,
      table: write.table,
      action: write.action,
      data: write.data,
      ...(write.baseVersion !== undefined ? { base_version: write.baseVersion } : {}),
    }));
    const answer = await this.ctx.transport.json<PushAnswer>("/sync/push", {
      method: "POST",
      body: { device_id: this.ctx.deviceId, atomic: false, operations },
      signal: this.ctx.signal,
    });
    this.ctx.heard();
    const byOpId = new Map(batch.map((write) => [write.opId, write]));
    const touched: Touched = new Map();
    const settled: number[] = [];
    const rows: ServerRecord[] = [];
    let retryLater = false;
    const conflicts: { write: QueuedWrite; conflict: ConflictInfo; row: Row | null }[] = [];
    const refused: { write: QueuedWrite; error: GatewayError }[] = [];
    for (const outcome of [...answer.applied, ...answer.conflicts, ...answer.errors]) {
      const write = (outcome.op_id && byOpId.get(outcome.op_id)) || batch[outcome.index];
      if (!write) continue;
      if (outcome.error) {
        if (RETRIED_CODES.has(outcome.error.code)) {
          retryLater = true;
          this.ctx.failed({ error: outcome.error });
          continue;
        }
        refused.push({ write, error: outcome.error });
      } else if (outcome.conflict) {
        conflicts.push({ write, conflict: outcome.conflict, row: outcome.row ?? null });
      }
      this.ctx.state.settle(write, touched);
      settled.push(write.seq);
      if (outcome.version !== undefined && (outcome.row || outcome.deleted)) {
        const record = this.ctx.state.applyServer(
          {
            table: write.table,
            key: outcome.key ?? write.key,
            version: outcome.version,
            deleted: outcome.deleted ?? false,
            row: outcome.row ?? null,
          },
          touched,
        );
        if (record) rows.push(record);
      }
    }
    // Writes left on the queue (retried codes, or not named by the answer) go again later.
    if (settled.length < batch.length) retryLater = true;
    await this.ctx.persist({ deleteQueue: settled, putRows: rows });
    this.ctx.publish(touched);
    for (const event of conflicts) this.ctx.events.emit("conflict", event);
    for (const event of refused) {
      this.ctx.failed({ error: event.error });
      this.ctx.events.emit("writeError", event);
    }
    return retryLater;
  }

  /** Takes a write the gateway will never take off the queue, and tells the app. */
  private async refuse(write: QueuedWrite, error: GatewayError): Promise<void> {
    const touched: Touched = new Map();
    this.ctx.state.settle(write, touched);
    await this.ctx.persist({ deleteQueue: [write.seq] });
    this.ctx.publish(touched);
    this.ctx.events.emit("writeError", { write, error });
  }
}
