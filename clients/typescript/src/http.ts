// Requests to the gateway: the bearer token from the app's provider (asked again once on a
// 401), a timeout per request, and every failure sorted into what the client does with it.
import type { GatewayError } from "./types.js";

/** Gives the bearer token; `refresh` is true after the gateway refused the last one. */
export type TokenProvider = (context: { refresh: boolean }) => string | Promise<string>;

/** The request never got an answer: network down, gateway stopped, timeout, connection cut. */
export class NetworkError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = "NetworkError";
  }
}

/** The gateway answered with an error status. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly error: GatewayError) {
    super(`${status} ${error.code}: ${error.message}`);
    this.name = "HttpError";
  }

  /** Worth trying again later with the same request: the gateway or the path is in trouble. */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

export interface TransportOptions {
  /** The API base, e.g. `http://127.0.0.1:8080/api/v1`. */
  url: string;
  token: TokenProvider;
  fetch?: typeof fetch;
  /** Longest wait for an answer (default 30 s; a long-poll adds its `wait`). */
  timeoutMs?: number;
}

async function errorBody(response: Response): Promise<GatewayError> {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: GatewayError };
    if (body.error?.code) return body.error;
  } catch {
    // not the gateway's JSON (a proxy's page): described below
  }
  return { code: `http_${response.status}`, message: text.slice(0, 200) || response.statusText };
}

export class Transport {
  readonly url: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private token: string | null = null;

  constructor(private readonly options: TransportOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  private async bearer(refresh: boolean): Promise<string> {
    if (refresh || this.token === null) this.token = await this.options.token({ refresh });
    return this.token;
  }

  /**
   * Sends a request and returns the open response (status 2xx). A 401 asks the token provider
   * for a new token and tries once more. `signal` ends it early (the client closing);
   * `timeoutMs: null` leaves a streaming answer open.
   */
  async send(
    path: string,
    init: { method?: string; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; timeoutMs?: number | null },
  ): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.bearer(attempt > 0);
      const signals: AbortSignal[] = [];
      if (init.signal) signals.push(init.signal);
      const timeout = init.timeoutMs === undefined ? this.timeoutMs : init.timeoutMs;
      if (timeout !== null) signals.push(AbortSignal.timeout(timeout));
      let response: Response;
      try {
        response = await this.fetchImpl(`${this.url}${path}`, {
          method: init.method ?? "GET",
          headers: {
            authorization: `Bearer ${token}`,
            ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
            ...init.headers,
          },
          body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
          signal: signals.length ? AbortSignal.any(signals) : undefined,
        });
      } catch (cause) {
        if (init.signal?.aborted) throw cause;
        throw new NetworkError(`${init.method ?? "GET"} ${path}: ${(cause as Error)?.message ?? cause}`, cause);
      }
      if (response.ok) return response;
      const error = await errorBody(response);
      if (response.status === 401 && attempt === 0) continue;
      throw new HttpError(response.status, error);
    }
  }

  async json<T>(path: string, init: Parameters<Transport["send"]>[1] = {}): Promise<T> {
    const response = await this.send(path, init);
    try {
      return (await response.json()) as T;
    } catch (cause) {
      // The answer was cut on the way (a dropped connection mid-body): no answer at all.
      throw new NetworkError(`${path}: the answer was cut off`, cause);
    }
  }
}
