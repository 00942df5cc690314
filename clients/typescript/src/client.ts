// The client: a local copy of the caller's rows that the app reads and writes at once, a
// durable queue that takes the writes to the gateway, and a reader that keeps the copy live.
import { Backoff, Waker } from "./backoff.js";
import { DeviceReporter } from "./device-report.js";
import type { DeviceInfo } from "./device-report.js";
import { describe } from "./context.js";
import type { ClientEvents, SyncContext } from "./context.js";
import { FeedReader } from "./feed-reader.js";
import type { LiveMode } from "./feed-reader.js";
import { NetworkError, Transport } from "./http.js";
import type { TokenProvider } from "./http.js";
import { LocalState } from "./local-state.js";
import type { Touched } from "./local-state.js";
import { MemoryPersistence } from "./persistence/persistence.js";
import type { PersistBatch, Persistence } from "./persistence/persistence.js";
import type { Query } from "./query.js";
import { Emitter, Observable } from "./status.js";
import type { SyncStatus } from "./status.js";
import { Table } from "./table.js";
import type { Action, QueuedWrite, Row, SchemaSpec, TablesShape } from "./types.js";
import { WriteQueue } from "./write-queue.js";

export interface ClientOptions<T extends TablesShape> {
  /** The gateway's API base, with its prefix: `http://127.0.0.1:8080/api/v1`. */
  url: string;
  /** The generated module's `schema` (`syncgate client-types`). */
  schema: SchemaSpec<T>;
  /** Gives the bearer token (a JWT or a device token); asked again after a 401. */
  token: TokenProvider;
  /** Where the device keeps its rows and queue: IndexedDBPersistence in browsers,
   * FilePersistence (`@syncgate/client/node`) in Node. Default: memory only. */
  persistence?: Persistence;
  /** This device's id in op ids and pushes; default: made once and kept in the store. */
  deviceId?: string;
  /** Register this device with the gateway (once) and acknowledge the feed with the number of
   * writes still queued, so `GET /sync/status` shows it in both directions. */
  device?: DeviceInfo;
  /** Tables to sync; default every table the token may read. */
  tables?: (keyof T & string)[];
  /** Most writes per push (default 100). */
  batchSize?: number;
  /** Changes per page of the first read and of long-polls (default 1000, the feed's most). */
  pageSize?: number;
  /** `auto` (default): the live stream, long-polling where a stream cannot be held. */
  live?: LiveMode;
  /** Seconds a long-poll waits (default 25). */
  longPollWait?: number;
  /** Retry delays: doubling from `minMs` (default 250) to `maxMs` (default 30 s), jittered. */
  retry?: { minMs?: number; maxMs?: number };
  /** Longest wait for one answer (default 30 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

type Subscription = { query: Query<unknown>; listener: (result: unknown) => void; last: unknown };

export class SyncClient<T extends TablesShape> {
  readonly status: Observable<SyncStatus>;
  private readonly events = new Emitter<ClientEvents>();
  private readonly state: LocalState;
  private readonly abort = new AbortController();
  private readonly online = new Waker();
  private readonly subscriptions = new Set<Subscription>();
  private readonly transport: Transport;
  private readonly queue: WriteQueue;
  private readonly reader: FeedReader;
  private readonly reporter: DeviceReporter | null;
  private persisting: Promise<void> = Promise.resolve();
  private running: Promise<unknown> | null = null;
  private nextSeq: number;

  private constructor(
    private readonly options: ClientOptions<T>,
    private readonly persistence: Persistence,
    readonly deviceId: string,
    saved: {
      nextSeq: number;
      cursor: string | null;
      rereading: string[];
      registered: boolean;
      rows: Parameters<LocalState["load"]>[0];
      queue: QueuedWrite[];
    },
  ) {
    this.transport = new Transport({
      url: options.url,
      token: options.token,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    });
    this.state = new LocalState(Object.keys(options.schema));
    this.state.load(saved.rows, saved.queue);
    this.nextSeq = saved.nextSeq;
    this.status = new Observable<SyncStatus>({
      online: null,
      live: "off",
      pending: saved.queue.length,
      lastSyncAt: null,
      lastError: null,
      bootstrap: null,
    });
    const ctx = this.context();
    this.queue = new WriteQueue(ctx, options.batchSize ?? 100);
    this.reader = new FeedReader(
      ctx,
      {
        tables: options.tables ?? null,
        pageSize: options.pageSize ?? 1000,
        live: options.live ?? "auto",
        longPollWait: options.longPollWait ?? 25,
      },
      { cursor: saved.cursor, rereading: saved.rereading },
    );
    this.reporter = options.device ? new DeviceReporter(ctx, options.device, saved.registered, () => this.reader.cursor) : null;
  }

  /** Opens the device's store and returns the client; `start()` begins syncing. */
  static async open<T extends TablesShape>(options: ClientOptions<T>): Promise<SyncClient<T>> {
    const persistence = options.persistence ?? new MemoryPersistence();
    const stored = await persistence.load();
    let deviceId = options.deviceId ?? (stored.meta.deviceId as string | undefined);
    const lastQueued = stored.queue.reduce((most, write) => Math.max(most, write.seq), 0);
    const nextSeq = Math.max((stored.meta.nextSeq as number | undefined) ?? 1, lastQueued + 1);
    if (!deviceId) {
      deviceId = globalThis.crypto.randomUUID();
      await persistence.apply({ meta: { deviceId }, durable: true });
    }
    return new SyncClient(options, persistence, deviceId, {
      nextSeq,
      cursor: (stored.meta.cursor as string | null | undefined) ?? null,
      rereading: (stored.meta.rereading as string[] | undefined) ?? [],
      registered: stored.meta.registered === true,
      rows: stored.rows,
      queue: stored.queue,
    });
  }

  /** Starts pushing the queue and following the gateway's changes. */
  start(): void {
    if (this.running) return;
    const onOnline = () => this.online.wake();
    globalThis.addEventListener?.("online", onOnline);
    this.abort.signal.addEventListener("abort", () => globalThis.removeEventListener?.("online", onOnline));
    this.running = Promise.allSettled([this.queue.run(), this.reader.run(), ...(this.reporter ? [this.reporter.run()] : [])]);
  }

  /** Stops syncing and closes the store; queued writes stay for the next run. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.running;
    await this.persisting.catch(() => {});
    await this.persistence.close();
  }

  table<K extends keyof T & string>(name: K): Table<T[K]["row"], T[K]["insert"], T[K]["patch"]> {
    const spec = this.options.schema[name];
    if (!spec) throw new Error(`unknown table \`${name}\`; the schema has ${Object.keys(this.options.schema).join(", ")}`);
    return new Table(
      { write: (table, action, data) => this.write(table, action, data), rows: (table) => this.state.rows(table) },
      name,
      spec.primaryKey,
    );
  }

  /** Calls `listener` with the query's answer now, then whenever it changes. */
  subscribe<R>(query: Query<R>, listener: (result: R) => void): () => void {
    const subscription: Subscription = {
      query: query as Query<unknown>,
      listener: listener as (result: unknown) => void,
      last: query.run(),
    };
    this.subscriptions.add(subscription);
    listener(subscription.last as R);
    return () => this.subscriptions.delete(subscription);
  }

  on<K extends keyof ClientEvents & string>(name: K, listener: (value: ClientEvents[K]) => void): () => void {
    return this.events.on(name, listener);
  }

  /** Writes not answered by the gateway yet, in the order they will be pushed. */
  pendingWrites(): readonly QueuedWrite[] {
    return this.state.queue;
  }

  /** The feed position the device has read up to (null before the first read). */
  get cursor(): string | null {
    return this.reader.cursor;
  }

  /** Resolves once every write queued so far has been answered. */
  flushed(): Promise<void> {
    return this.queue.flushed();
  }

  private async write(table: string, action: Action, data: Row): Promise<void> {
    const primaryKey = this.options.schema[table]!.primaryKey;
    const keyValue = data[primaryKey];
    if (keyValue === undefined || keyValue === null) {
      throw new TypeError(`${action} on \`${table}\` needs its primary key \`${primaryKey}\``);
    }
    const key = String(keyValue);
    // The version the device saw; writes after another queued write of the row carry none,
    // since the version they build on is the one that write will make.
    const record = this.state.hasPending(table, key) ? undefined : this.state.serverRecord(table, key);
    const seq = this.nextSeq++;
    const write: QueuedWrite = {
      seq,
      opId: `${this.deviceId}:${seq}`,
      table,
      action,
      key,
      data: { ...data },
      ...(record ? { baseVersion: record.version } : {}),
      queuedAt: Date.now(),
      attempts: 0,
    };
    const touched: Touched = new Map();
    this.state.enqueue(write, touched);
    this.publish(touched);
    await this.persist({ putQueue: [write], meta: { nextSeq: this.nextSeq }, durable: true });
    this.queue.nudge();
  }

  private persist(batch: PersistBatch): Promise<void> {
    const next = this.persisting.then(() => this.persistence.apply(batch));
    this.persisting = next.catch(() => {});
    return next;
  }

  private publish(touched: Touched): void {
    // Every change to the queue is published: `pending` follows it here, in one place.
    if (this.status.get().pending !== this.state.queue.length) this.status.update({ pending: this.state.queue.length });
    this.reporter?.progressed();
    if (!touched.size) return;
    for (const subscription of this.subscriptions) {
      if (!touched.has(subscription.query.table)) continue;
      const result = subscription.query.run();
      if (!subscription.query.differs(subscription.last, result)) continue;
      subscription.last = result;
      subscription.listener(result);
    }
    this.events.emit("change", touched);
  }

  private context(): SyncContext {
    const retry = { minMs: this.options.retry?.minMs ?? 250, maxMs: this.options.retry?.maxMs ?? 30_000 };
    return {
      transport: this.transport,
      state: this.state,
      status: this.status,
      events: this.events,
      signal: this.abort.signal,
      deviceId: this.deviceId,
      online: this.online,
      newBackoff: () => new Backoff(retry.minMs, retry.maxMs),
      persist: (batch) => this.persist(batch),
      publish: (touched) => this.publish(touched),
      heard: () => {
        const { online, lastSyncAt } = this.status.get();
        // Back from offline: wake the loop that is still waiting out its retry delay.
        if (online === false) this.online.wake();
        if (!online || Date.now() - (lastSyncAt ?? 0) > 100) this.status.update({ online: true, lastSyncAt: Date.now() });
      },
      failed: (error) => {
        const offline = error instanceof NetworkError;
        this.status.update({ ...(offline ? { online: false } : {}), lastError: { ...describe(error), at: Date.now() } });
      },
    };
  }
}

/** Opens the device's store and starts syncing. */
export async function createClient<T extends TablesShape>(options: ClientOptions<T>): Promise<SyncClient<T>> {
  const client = await SyncClient.open(options);
  client.start();
  return client;
}
