#!/usr/bin/env node
// Serves the package's files and passes `/api/…` to a gateway, so that a page and the API share
// one origin (no CORS to configure). The example app runs behind it:
//
//   node clients/typescript/scripts/dev-server.mjs [--gateway http://127.0.0.1:8080] [--port 5173]
//
// The end-to-end tests use it as their proxy, with its faults: `loseNextPushAnswer()` lets the
// gateway apply a push and cuts the connection before the answer reaches the client,
// `blockPushes` cuts every push before it reaches the gateway, and `onPush(fn)` is called as
// each push arrives.
import { existsSync, readFileSync } from "node:fs";
import { createServer, request } from "node:http";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html", ".css": "text/css", ".map": "application/json" };

export class DevServer {
  /** `gateway`: an object whose `url` is the gateway's base URL (read on every request). */
  constructor(gateway) {
    this.gateway = gateway;
    this.losePushAnswers = 0;
    /** While true, every push is cut before it reaches the gateway (other requests pass). */
    this.blockPushes = false;
    this.pushes = 0;
    this.pushListeners = [];
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(port = 0) {
    await new Promise((r) => this.server.listen(port, "127.0.0.1", r));
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  loseNextPushAnswer() {
    this.losePushAnswers++;
  }

  onPush(listener) {
    this.pushListeners.push(listener);
  }

  handle(req, res) {
    if (!req.url.startsWith("/api/")) return this.file(req, res);
    const isPush = req.method === "POST" && req.url.includes("/sync/push");
    if (isPush) {
      this.pushes++;
      for (const listener of this.pushListeners) listener(this.pushes);
    }
    if (isPush && this.blockPushes) {
      req.socket.destroy();
      return;
    }
    const lose = isPush && this.losePushAnswers > 0;
    if (lose) this.losePushAnswers--;
    const target = new URL(this.gateway.url);
    const upstream = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        if (lose) {
          // The gateway has applied the push; its answer never arrives.
          answer.resume();
          answer.on("end", () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res); // streams pass as they come
        answer.on("close", () => res.destroy());
      },
    );
    upstream.on("error", () => req.socket.destroy()); // the gateway is down: no answer at all
    req.pipe(upstream);
    res.on("close", () => upstream.destroy());
  }

  file(req, res) {
    let path = normalize(join(PACKAGE, decodeURIComponent(new URL(req.url, "http://x").pathname)));
    if (path === PACKAGE || path === `${PACKAGE}/`) path = join(PACKAGE, "example/index.html");
    if (!path.startsWith(PACKAGE) || !existsSync(path) || path.includes("node_modules")) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(readFileSync(path));
  }

  close() {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(r));
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { gateway: { type: "string", default: "http://127.0.0.1:8080" }, port: { type: "string", default: "5173" }, help: { type: "boolean" } },
  });
  if (values.help) {
    console.log("usage: node scripts/dev-server.mjs [--gateway URL] [--port PORT]\nServes the example app at / and passes /api/… to the gateway.");
    process.exit(0);
  }
  const server = new DevServer({ url: values.gateway });
  await server.listen(Number(values.port));
  console.log(`example app: ${server.url}/  (API passed to ${values.gateway})`);
}
