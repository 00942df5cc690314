// How long to wait before trying the gateway again: doubling from `minMs` to `maxMs`, with
// jitter so that devices that lost the gateway together do not come back in step.
export class Backoff {
  private failures = 0;

  constructor(private readonly minMs = 250, private readonly maxMs = 30_000) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** this.failures);
    this.failures++;
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  reset(): void {
    this.failures = 0;
  }
}

/** Resolves after `ms`, or at once when `wake` is signalled or `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal, wake?: { promise: Promise<void> }): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stop);
      resolve();
    };
    const timer = setTimeout(stop, ms);
    signal?.addEventListener("abort", stop, { once: true });
    wake?.promise.then(stop);
  });
}

/** A signal that wakes whoever waits on its current promise (new writes, coming back online). */
export class Waker {
  promise!: Promise<void>;
  private resolve!: () => void;

  constructor() {
    this.arm();
  }

  wake(): void {
    this.resolve();
    this.arm();
  }

  private arm(): void {
    this.promise = new Promise((resolve) => (this.resolve = resolve));
  }
}
