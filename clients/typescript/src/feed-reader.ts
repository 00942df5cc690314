// Reads what changed on the gateway: a first read of every row the device may see (the
// changes feed from the start, in pages), then live — the stream of server-sent events, or
// long-polls of the feed where a stream cannot be held open — resuming from the persisted
// cursor after a restart. A changed view (409 `resync_required`) drops the tables it names and
// reads them again.
import { sleep } from "./backoff.js";
import { HttpError, NetworkError } from "./http.js";
import { readEvents } from "./sse.js";
import type { SyncContext } from "./context.js";
import type { Touched } from "./local-state.js";
import type { BootstrapProgress, Change, GatewayError, ServerRecord } from "./types.js";

export type LiveMode = "auto" | "stream" | "long-poll";

export interface FeedOptions {
  /** Tables to read; null: every table the caller may read. */
  tables: string[] | null;
  pageSize: number;
  live: LiveMode;
  /** Seconds a long-poll waits for a change. */
  longPollWait: number;
}

interface FeedPage {
  changes: Change[];
  cursor: string;
  has_more: boolean;
}

/** The stream's answer was not a stream (a proxy, an old gateway): long-poll instead. */
class StreamUnavailable extends Error {}

export function recordOf(change: Change): ServerRecord {
  return {
    table: change.table,
    key: change.key,
    version: change.version,
    deleted: change.deleted || change.removed === true,
    row: change.removed ? null : (change.row ?? null),
  };
}

export class FeedReader {
  cursor: string | null;
  /** Tables a changed view dropped that are still to be read again (persisted). */
  private rereading: string[];
  private streamUnavailable = false;

  constructor(
    private readonly ctx: SyncContext,
    private readonly options: FeedOptions,
    saved: { cursor: string | null; rereading: string[] },
  ) {
    this.cursor = saved.cursor;
    this.rereading = saved.rereading;
  }

  async run(): Promise<void> {
    const backoff = this.ctx.newBackoff();
    while (!this.ctx.signal.aborted) {
      try {
        if (this.cursor === null) await this.bootstrap(this.options.tables);
        if (this.rereading.length) await this.reread();
        if (this.options.live === "long-poll" || (this.options.live === "auto" && this.streamUnavailable)) {
          await this.longPoll();
        } else {
          await this.stream(() => backoff.reset());
        }
        backoff.reset();
      } catch (error) {
        if (this.ctx.signal.aborted) return;
        if (error instanceof HttpError && error.error.code === "resync_required") {
          await this.resync(error.error);
          continue;
        }
        if (error instanceof StreamUnavailable && this.options.live === "auto") {
          this.streamUnavailable = true;
          continue;
        }
        this.ctx.status.update({ live: "off" });
        this.ctx.failed(error);
        if (!(error instanceof NetworkError || error instanceof HttpError || error instanceof StreamUnavailable)) throw error;
        await sleep(backoff.next(), this.ctx.signal, this.ctx.online);
      }
    }
  }

  private tablesParam(tables: string[] | null): string {
    return tables ? `&tables=${encodeURIComponent(tables.join(","))}` : "";
  }

  /** Reads every row of `tables` from the start of the feed, a page at a time. */
  private async bootstrap(tables: string[] | null): Promise<void> {
    const progress: BootstrapProgress = { changes: 0, pages: 0, done: false };
    let cursor: string | null = null;
    const whole = tables === this.options.tables;
    for (;;) {
      const after = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const page: FeedPage = await this.ctx.transport.json<FeedPage>(
        `/sync/changes?limit=${this.options.pageSize}${this.tablesParam(tables)}${after}`,
        { signal: this.ctx.signal },
      );
      this.ctx.heard();
      cursor = page.cursor;
      // A whole first read moves the device's cursor page by page: a reload resumes it.
      await this.apply(page.changes, whole ? cursor : null);
      progress.changes += page.changes.length;
      progress.pages++;
      progress.done = !page.has_more;
      this.ctx.status.update({ bootstrap: { ...progress } });
      this.ctx.events.emit("bootstrap", { ...progress });
      if (!page.has_more) return;
    }
  }

  /** Applies changes and moves the cursor, in one persisted batch. */
  private async apply(changes: Change[], cursor: string | null): Promise<void> {
    const touched: Touched = new Map();
    const rows: ServerRecord[] = [];
    for (const change of changes) {
      const record = this.ctx.state.applyServer(recordOf(change), touched);
      if (record) rows.push(record);
    }
    if (cursor !== null) this.cursor = cursor;
    // Subscribers hear of the page before it is on disk: a crash before that only means the
    // page is read again from the cursor stored before it.
    const stored = this.ctx.persist({ putRows: rows, ...(cursor !== null ? { meta: { cursor } } : {}) });
    this.ctx.publish(touched);
    await stored;
  }

  private async longPoll(): Promise<void> {
    const wait = this.options.longPollWait;
    const page = await this.ctx.transport.json<FeedPage>(
      `/sync/changes?limit=${this.options.pageSize}&wait=${wait}&cursor=${encodeURIComponent(this.cursor!)}${this.tablesParam(this.options.tables)}`,
      { signal: this.ctx.signal, timeoutMs: 30_000 + wait * 1000 },
    );
    this.ctx.heard();
    this.ctx.status.update({ live: "long-poll" });
    await this.apply(page.changes, page.cursor);
  }

  /** Holds the stream open and applies its events, a chunk's worth at a time. */
  private async stream(opened: () => void): Promise<void> {
    const cursor = this.cursor!;
    let response: Response;
    try {
      response = await this.ctx.transport.send(
        `/sync/stream?cursor=${encodeURIComponent(cursor)}${this.tablesParam(this.options.tables)}`,
        { headers: { accept: "text/event-stream", "last-event-id": cursor }, signal: this.ctx.signal, timeoutMs: null },
      );
    } catch (error) {
      if (error instanceof HttpError && [404, 405, 406, 501].includes(error.status)) throw new StreamUnavailable(error.message);
      throw error;
    }
    if (!response.headers.get("content-type")?.startsWith("text/event-stream") || !response.body) {
      throw new StreamUnavailable(`the stream answered ${response.headers.get("content-type")}`);
    }
    this.ctx.heard();
    this.ctx.status.update({ live: "stream" });
    opened();
    try {
      for await (const events of readEvents(response.body)) {
        const changes: Change[] = [];
        let last: string | null = null;
        for (const event of events) {
          if (event.event === "resync_required") {
            const body = JSON.parse(event.data) as { error: GatewayError };
            throw new HttpError(409, body.error);
          }
          if (event.event !== "change") continue;
          changes.push(JSON.parse(event.data) as Change);
          last = event.id ?? last;
        }
        if (changes.length) {
          await this.apply(changes, last);
          this.ctx.heard();
        }
      }
    } catch (error) {
      if (error instanceof HttpError || this.ctx.signal.aborted) throw error;
      throw new NetworkError(`the stream broke: ${(error as Error).message}`, error);
    }
    throw new NetworkError("the gateway closed the stream");
  }

  /** The caller's view changed: drop what the gateway names, then read those tables again. */
  private async resync(error: GatewayError): Promise<void> {
    const details = (error.details ?? {}) as { tables?: string[]; dropped?: string[]; cursor?: string };
    const known = new Set(this.ctx.state.tables);
    const reread = (details.tables ?? []).filter((t) => known.has(t));
    const dropped = (details.dropped ?? []).filter((t) => known.has(t));
    const touched: Touched = new Map();
    for (const table of [...reread, ...dropped]) this.ctx.state.clearTable(table, touched);
    this.cursor = details.cursor ?? null;
    this.rereading = [...new Set([...this.rereading, ...reread])];
    await this.ctx.persist({
      clearTables: [...reread, ...dropped],
      meta: { cursor: this.cursor, rereading: this.rereading },
    });
    this.ctx.publish(touched);
  }

  private async reread(): Promise<void> {
    await this.bootstrap(this.rereading);
    this.rereading = [];
    await this.ctx.persist({ meta: { rereading: [] } });
  }
}
