// Tells the gateway about this device, when the app gives it a name: registers it once
// (`POST /sync/devices`, so it appears in `GET /sync/status`), then acknowledges the feed with
// the number of writes still queued (`POST /sync/ack {device_id, cursor, pending_upload}`), so
// a status screen sees both directions. Acks follow progress at most every `intervalMs`.
import { sleep, Waker } from "./backoff.js";
import { HttpError } from "./http.js";
import type { SyncContext } from "./context.js";

export interface DeviceInfo {
  name: string;
  platform: string;
  appVersion: string;
}

export class DeviceReporter {
  private readonly progress = new Waker();
  private lastSent: string | null = null;

  constructor(
    private readonly ctx: SyncContext,
    private readonly device: DeviceInfo,
    private registered: boolean,
    private readonly cursor: () => string | null,
    private readonly intervalMs = 2000,
  ) {}

  /** The cursor or the queue moved: acknowledge soon. */
  progressed(): void {
    this.progress.wake();
  }

  async run(): Promise<void> {
    const backoff = this.ctx.newBackoff();
    while (!this.ctx.signal.aborted) {
      const cursor = this.cursor();
      const pending = this.ctx.state.queue.length;
      const said = `${cursor} ${pending}`;
      if (cursor === null || said === this.lastSent) {
        await sleep(3_600_000, this.ctx.signal, this.progress);
        await sleep(this.intervalMs, this.ctx.signal);
        continue;
      }
      try {
        if (!this.registered) await this.register();
        await this.ctx.transport.json("/sync/ack", {
          method: "POST",
          body: { device_id: this.ctx.deviceId, cursor, pending_upload: pending },
          signal: this.ctx.signal,
        });
        this.lastSent = said;
        backoff.reset();
      } catch (error) {
        if (this.ctx.signal.aborted) return;
        // The other loops report failures; this one only waits and tries again.
        await sleep(backoff.next(), this.ctx.signal, this.ctx.online);
      }
    }
  }

  private async register(): Promise<void> {
    try {
      await this.ctx.transport.json("/sync/devices", {
        method: "POST",
        body: { id: this.ctx.deviceId, name: this.device.name, platform: this.device.platform, app_version: this.device.appVersion },
        signal: this.ctx.signal,
      });
    } catch (error) {
      // Registered before (by this device, from a store that forgot it had done so).
      if (!(error instanceof HttpError && error.status === 409)) throw error;
    }
    this.registered = true;
    await this.ctx.persist({ meta: { registered: true }, durable: true });
  }
}
