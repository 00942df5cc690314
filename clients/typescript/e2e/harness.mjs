// Real parts for the end-to-end tests: a syncgate gateway process (the debug binary) on SQLite
// or on a fresh PostgreSQL database, stopped, killed with SIGKILL and started again on the same
// port and data; and a proxy in front of it that serves the package's files (so a browser page
// and the API share one origin) and can lose an answer on its way back.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { createServer as netServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
export { DevServer as Proxy } from "../scripts/dev-server.mjs";

export const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = resolve(PACKAGE, "../..");
const BINARY = process.env.SGTEST_SYNCGATE_BINARY ?? join(REPO, "target/debug/syncgate");

export function backends() {
  return process.env.SGTEST_POSTGRES_URL ? ["sqlite", "postgres"] : ["sqlite"];
}

export function freePort() {
  return new Promise((done) => {
    const server = netServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

function postgresDatabase() {
  const admin = process.env.SGTEST_POSTGRES_URL;
  const psql = ["/usr/bin/psql", ...readdirSync("/usr/lib/postgresql").sort().map((v) => `/usr/lib/postgresql/${v}/bin/psql`)]
    .filter(existsSync).at(-1);
  const name = `sg_client_${process.pid}_${Date.now()}`;
  execFileSync(psql, [admin, "-q", "-c", `CREATE DATABASE ${name}`]);
  return admin.replace(/\/[^/]*$/, `/${name}`);
}

export class Gateway {
  constructor(backend) {
    this.backend = backend;
    this.dir = mkdtempSync(join(tmpdir(), "sg-client-e2e-"));
    this.database = backend === "postgres" ? postgresDatabase() : `sqlite://${this.dir}/syncgate.db`;
    this.process = null;
    this.log = "";
  }

  get env() {
    return {
      ...process.env,
      SYNCGATE_DATABASE__URL: this.database,
      SYNCGATE_SERVER__LISTEN: `127.0.0.1:${this.port}`,
      SYNCGATE_PATHS__SCHEMAS: join(REPO, "schemas"),
      SYNCGATE_PATHS__PLUGINS: join(REPO, "plugins"),
      SYNCGATE_FILES__DIR: join(this.dir, "files"),
      SYNCGATE_SYNC__STREAM_HEARTBEAT: "2s",
      RUST_LOG: "warn",
    };
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port ??= await freePort();
    this.process = spawn(BINARY, ["serve", "--config", join(REPO, "config.toml")], { env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    this.process.stdout.on("data", (d) => (this.log += d));
    this.process.stderr.on("data", (d) => (this.log += d));
    const end = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/ready`)).ok) return;
      } catch {}
      if (this.process.exitCode !== null || Date.now() > end) throw new Error(`the gateway did not start:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(signal = "SIGTERM") {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await exited;
    this.process = null;
  }

  token(sub, role, branch) {
    const args = ["token", "--config", join(REPO, "config.toml"), "--sub", sub, "--role", role, "--ttl", "2h"];
    if (branch !== undefined) args.push("--branch", String(branch));
    return execFileSync(BINARY, args, { env: this.env }).toString().trim();
  }

  /** The gateway's own answer, read fresh: every row `token` may read, by table and key. */
  async rows(token) {
    const rows = {};
    let cursor = null;
    for (;;) {
      const response = await fetch(`${this.url}/api/v1/sync/pull`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ limit: 5000, ...(cursor ? { cursor } : {}) }),
      });
      const page = await response.json();
      if (!response.ok) throw new Error(JSON.stringify(page));
      for (const [table, list] of Object.entries(page.data)) {
        rows[table] ??= {};
        for (const row of list) rows[table][row.id] = row;
      }
      if (!page.has_more) return rows;
      cursor = page.cursor;
    }
  }

  async call(method, path, token, body) {
    const response = await fetch(`${this.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  }

  async close() {
    await this.stop("SIGKILL");
  }
}

/** Resolves once `check()` is true; fails after `ms` naming `what`. */
export async function until(check, what, ms = 30_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A Node client's copy of `tables`, as `differences` compares it: rows by table and id. */
export function copy(client, tables) {
  const out = {};
  for (const table of tables) {
    out[table] = Object.fromEntries(client.table(table).all().run().map((row) => [row.id, row]));
  }
  return out;
}

/** The number of rows that differ between a device's copy and the gateway's fresh answer. */
export function differences(device, server, tables) {
  let count = 0;
  const details = [];
  for (const table of tables) {
    const mine = device[table] ?? {};
    const theirs = server[table] ?? {};
    for (const key of new Set([...Object.keys(mine), ...Object.keys(theirs)])) {
      if (JSON.stringify(mine[key] ?? null) !== JSON.stringify(theirs[key] ?? null)) {
        count++;
        if (details.length < 5) details.push({ table, key, device: mine[key] ?? null, server: theirs[key] ?? null });
      }
    }
  }
  return { count, details };
}

