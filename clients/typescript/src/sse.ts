// Server-sent events read from a fetch body. Browsers' EventSource cannot send an
// Authorization header, which the gateway requires, so browsers and Node read the stream the
// same way: the body's bytes, split into events as the text/event-stream format says.

export interface StreamEvent {
  id: string | null;
  event: string;
  data: string;
}

/** Splits a text/event-stream into events; feed it chunks, it yields the events they complete. */
export class EventStreamParser {
  private buffer = "";
  private id: string | null = null;
  private event = "";
  private data: string[] = [];

  push(chunk: string): StreamEvent[] {
    this.buffer += chunk;
    const events: StreamEvent[] = [];
    let start = 0;
    for (;;) {
      const newline = this.buffer.slice(start).search(/\r\n|\r|\n/);
      if (newline < 0) break;
      const end = start + newline;
      const line = this.buffer.slice(start, end);
      start = end + (this.buffer.startsWith("\r\n", end) ? 2 : 1);
      if (line === "") {
        if (this.data.length) events.push({ id: this.id, event: this.event || "message", data: this.data.join("\n") });
        this.event = "";
        this.data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // a heartbeat comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.data.push(value);
      else if (field === "event") this.event = value;
      else if (field === "id") this.id = value;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }
}

/** Yields the events of a response body as they arrive, a chunk's worth at a time. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent[]> {
  const parser = new EventStreamParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const events = parser.push(decoder.decode(value, { stream: true }));
      if (events.length) yield events;
    }
  } finally {
    reader.releaseLock();
  }
}
