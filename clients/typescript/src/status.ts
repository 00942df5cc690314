// What a device's status screen shows, from the device's side, as a value to subscribe to.
import type { BootstrapProgress, GatewayError } from "./types.js";

export interface SyncStatus {
  /** The gateway answered the last request (false after a network failure; null before any). */
  online: boolean | null;
  /** How changes arrive: a live stream, long-polling, or nothing yet. */
  live: "stream" | "long-poll" | "off";
  /** Local writes the gateway has not answered yet. */
  pending: number;
  /** When the device last heard from the gateway (a push answered or changes read), ms epoch. */
  lastSyncAt: number | null;
  /** The last failure: a request that failed, or a write the gateway refused. */
  lastError: (GatewayError & { at: number }) | null;
  bootstrap: BootstrapProgress | null;
}

export type Listener<T> = (value: T) => void;

/** A value with listeners, told of every change. */
export class Observable<T> {
  private listeners = new Set<Listener<T>>();

  constructor(private value: T) {}

  get(): T {
    return this.value;
  }

  /** Calls `listener` now and on every change; returns the function that stops it. */
  subscribe(listener: Listener<T>): () => void {
    this.listeners.add(listener);
    listener(this.value);
    return () => this.listeners.delete(listener);
  }

  update(change: Partial<T>): void {
    this.value = { ...this.value, ...change };
    for (const listener of this.listeners) listener(this.value);
  }
}

/** Listeners by event name. */
export class Emitter<Events extends { [name: string]: unknown }> {
  private listeners = new Map<keyof Events, Set<(value: never) => void>>();

  on<K extends keyof Events>(name: K, listener: (value: Events[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as (value: never) => void);
    return () => set!.delete(listener as (value: never) => void);
  }

  emit<K extends keyof Events>(name: K, value: Events[K]): void {
    for (const listener of this.listeners.get(name) ?? []) (listener as (value: Events[K]) => void)(value);
  }
}
