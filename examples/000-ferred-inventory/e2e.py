#!/usr/bin/env python3
"""Seed 000, FERRED inventory & sales, end to end: a hub (hub.toml; PostgreSQL when
SGTEST_POSTGRES_URL is set, else SQLite) and a branch edge (config.toml, always SQLite) as two
real `syncgate serve` processes, plus a second, one-branch edge for the per-branch snapshot.

Flows of the seed: writes recorded locally as PENDING; the drain pushes them to the hub (SYNCED,
each row once); pending counts per role (ADMIN all, others their own); the connectivity flag,
with the hub up and killed (writes keep working and stay PENDING, POST /sync/snapshot is 503,
the drain catches up once the hub is back); an entry the hub keeps refusing ends in ERROR after
5 tries, is not retried on its own, and is retried by hand; full and incremental snapshots;
snapshot status; 400 without a branch; branch scoping on the edge and on the hub; a snapshot
over writes not yet drained (kept_local, CONFLICT in sales); the branch-2 edge on a hub device
token (502 hub_refused once the hub replaced it); a hub answering 502 (503); a sale the till
writes, changes and deletes in the edge's SQLite directly (no push) reaching the hub.

    SYNCGATE_BIN=target/debug/syncgate python3 examples/000-ferred-inventory/e2e.py
"""

import sys
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent
sys.path.insert(0, str(EXAMPLE.parent))

from e2e_lib import Gateway, run  # noqa: E402

API = "/api"  # server.api_prefix of both configs (the seed's /api/sync/... paths)
EVERY_SECOND = "* * * * * *"
# Text only rows of branch 1 carry (skus, names, notes): a branch-2 answer holding it leaked.
MARK = "SUC1"


def hub_gateway(backend):
    hub = Gateway(EXAMPLE, backend, name="hub")
    hub.config = EXAMPLE / "hub.toml"
    return hub


def edge_gateway(hub, upstream_token, name, drain, snapshot):
    """An edge on SQLite whose [upstream] is the test's hub (its real port), with the drain
    and snapshot schedules of this phase of the test ("" disables a job)."""
    return Gateway(
        EXAMPLE,
        "sqlite",
        name=name,
        env={
            "SYNCGATE_UPSTREAM__URL": f"{hub.url}{API}",
            "SYNCGATE_UPSTREAM__TOKEN": upstream_token,
            "SYNCGATE_UPSTREAM__DEVICE_ID": name,
            "SYNCGATE_UPSTREAM__PROBE_INTERVAL": "1s",
            "SYNCGATE_JOBS__DRAIN__SCHEDULE": drain,
            "SYNCGATE_JOBS__SNAPSHOT__SCHEDULE": snapshot,
        },
    )


class BrokenHub:
    """A stand-in hub whose /health answers 200 and every other path 502 Bad Gateway."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                ok = self.path == "/health"
                body = b'{"status":"ok"}' if ok else b"bad gateway"
                self.send_response(200 if ok else 502)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


_clock = [0]


def stamp():
    """A strictly later `updated_at` at each call (products compare it: last_write_wins)."""
    _clock[0] += 1
    return f"2026-03-01T{10 + _clock[0] // 60:02d}:{_clock[0] % 60:02d}:00Z"


def when(timestamp):
    """Seconds since the epoch of an answer's `…Z` timestamp."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def new_id():
    return str(uuid.uuid4())


def op(op_id, table, action, **data):
    return {"op_id": op_id, "table": table, "action": action, "data": data}


def scenario(backend, c):
    started = time.time()
    hub = hub_gateway(backend)
    edge = edge2 = None
    leaks = []

    def watch(response, what):
        """Answers to branch-2 users go through here: branch-1 text in one is a leak."""
        if MARK in response.body.decode(errors="replace"):
            leaks.append((what, response))
        return response

    def push(gw, token, device, *ops, atomic=True):
        return gw.call(
            "POST",
            f"{API}/sync/push",
            token,
            {"device_id": device, "atomic": atomic, "operations": list(ops)},
        )

    def applied(response, what):
        body = c.status(response, 200, what)
        c.that(
            body["success"] and not body["errors"] and not body["conflicts"]
            and all(r["status"] == "applied" for r in body["applied"]),
            f"{what}: every operation applied",
            response,
        )
        return body["applied"]

    def rows(gw, token, table):
        """Every live row of `table` the caller may read, by key (POST /sync/pull)."""
        body = c.status(
            gw.call("POST", f"{API}/sync/pull", token, {"tables": [table], "limit": 5000}),
            200,
            f"pull {table}",
        )
        return {row["id"]: row for row in body["data"].get(table, [])}

    def get(gw, token, table, key):
        return gw.call("GET", f"{API}/tables/{table}/rows/{key}", token)

    def pending(gw, token):
        return c.status(gw.call("GET", f"{API}/sync/pending", token), 200, "pending counts")

    def log(gw, token):
        body = c.status(gw.call("GET", f"{API}/sync/log?limit=1000", token), 200, "sync log")
        return body["entries"]

    def upstream_online(gw, token):
        body = c.status(gw.call("GET", f"{API}/sync/upstream/status", token), 200, "upstream")
        return body["online"], body

    def wait_for(what, probe, timeout):
        """Polls `probe()` -> (done, seen) until done; fails with the last thing seen."""
        deadline = time.time() + timeout
        while True:
            passed = c.passed
            done, seen = probe()
            c.passed = passed  # a poll is not a check (a failing call in it still fails)
            if done or time.time() > deadline:
                c.that(done, f"{what} (within {timeout} s)", seen)
                return seen
            time.sleep(0.2)

    def watch_tries(gw, token, key, tries):
        """Records (time, attempts) each time the tries of `key`'s newest entry change, until
        it is ERROR (in a thread: plain calls, no checks)."""
        deadline = time.time() + 60
        while time.time() < deadline:
            answer = gw.call("GET", f"{API}/sync/log?limit=1000", token)
            found = [e for e in (answer.json or {}).get("entries", []) if e["key"] == key]
            if found and (not tries or tries[-1][1] != found[0]["attempts"]):
                tries.append((time.time(), found[0]["attempts"]))
            if found and found[0]["status"] == "ERROR":
                return
            time.sleep(0.1)

    def counts(body):
        return {k: body[k] for k in ("pending", "synced", "error", "conflict")}

    def entry_of(gw, token, key):
        """The newest outbox entry of row `key` the caller sees (None without one)."""
        found = [e for e in log(gw, token) if e["key"] == key]
        return found[0] if found else None

    def entry_reaches(what, gw, token, key, status, timeout):
        def probe():
            entry = entry_of(gw, token, key)
            return entry is not None and entry["status"] == status, entry

        return wait_for(what, probe, timeout)

    def counts_become(what, gw, token, expected, timeout):
        def probe():
            body = pending(gw, token)
            return counts(body) == expected, body

        return wait_for(what, probe, timeout)

    try:
        hub.start()
        admin = hub.token("admin", "ADMIN")  # head office, no branch (the seed's branch null)
        admin1 = hub.token("admin-1", "ADMIN", branch=1)
        bodega1 = hub.token("bodega-1", "BODEGA", branch=1)
        cajero1 = hub.token("cajero-1", "CAJERO", branch=1)
        bodega2 = hub.token("bodega-2", "BODEGA", branch=2)
        cajero2 = hub.token("cajero-2", "CAJERO", branch=2)
        no_branch = hub.token("bodega-x", "BODEGA")
        stranger = hub.token("gerente", "GERENTE")
        # The upstream tokens are hub JWTs: an edge shared by both branches (ADMIN) and an
        # edge of branch 2 alone (EDGE, the role the example schema declares for it).
        edge = edge_gateway(hub, hub.token("edge-shared", "ADMIN"), "edge-shared", "", "")
        edge.start()

        # ---------------------------------------------------------------------------------
        c.section("roles: ADMIN, BODEGA, CAJERO may call the seed's endpoints; others may not")
        for token in (admin, bodega1, cajero2):
            wait_for("GET /sync/upstream/status: the hub is online",
                     lambda token=token: upstream_online(edge, token), 5)
            for path in ("/sync/pending", "/sync/log"):
                c.status(edge.call("GET", API + path, token), 200, f"GET {path}")
        for old, new in (("/inventario/status", "/sync/upstream/status"),
                         ("/inventario/sync-pendientes", "/sync/pending")):
            seed_body = c.status(edge.call("GET", API + old, bodega1), 200,
                                 f"the seed's GET {API}{old}")
            ours = c.status(edge.call("GET", API + new, bodega1), 200, f"GET {API}{new}")
            c.that(sorted(seed_body) == sorted(ours), f"{API}{old} answers as {API}{new}",
                   seed_body)
            c.error(edge.call("GET", API + old), 401, "unauthorized", f"{API}{old} without a token")
        _, flag = upstream_online(edge, bodega1)
        c.that(flag["configured"] is True and flag["url"] == f"{hub.url}{API}"
               and flag.get("last_check") and "last_error" not in flag,
               "the flag is an object: configured, the hub's url, last_check, no last_error", flag)
        c.error(edge.call("GET", f"{API}/sync/pending"), 401, "unauthorized", "no token")
        at_hub = c.status(hub.call("GET", f"{API}/sync/pending", bodega1), 200, "pending at the hub")
        c.that(counts(at_hub) == {"pending": 0, "synced": 0, "error": 0, "conflict": 0}
               and at_hub["online"] is False, "the hub has no outbox: zeros, offline", at_hub)
        c.error(hub.call("POST", f"{API}/sync/snapshot", bodega1), 400, "not_an_edge",
                "POST /sync/snapshot at the hub")
        hub_status = c.status(hub.call("GET", f"{API}/sync/snapshot/status", bodega1), 200,
                              "snapshot status at the hub")
        c.that(hub_status == {"online": False, "branch": "1"}, "offline, no snapshot", hub_status)
        c.error(edge.call("GET", f"{API}/sync/pending", stranger), 403, "forbidden",
                "a role the schema does not declare")

        # ---------------------------------------------------------------------------------
        c.section("writes on the edge land in the outbox as PENDING (drain off)")
        p1a, p1b, p2a = new_id(), new_id(), new_id()
        p1b_data = {"id": p1b, "sku": f"{MARK}-CLAV", "name": f"Clavos {MARK}",
                    "price": "3.10", "stock": 10, "updated_at": stamp()}
        s1a, s1b, s2a = new_id(), new_id(), new_id()
        applied(push(edge, bodega1, "pc-bodega-1",
                     op("pc-bodega-1:1", "products", "insert", id=p1a, sku=f"{MARK}-MART",
                        name=f"Martillo {MARK}", price="12.50", stock=10, category="household",
                        updated_at=stamp()),
                     op("pc-bodega-1:2", "products", "insert", **p1b_data)),
                "BODEGA 1 adds two products")
        applied(push(edge, bodega1, "pc-bodega-1",
                     op("pc-bodega-1:3", "products", "update", id=p1a, stock=12,
                        updated_at=stamp())),
                "BODEGA 1 corrects a stock")
        sold = applied(push(edge, cajero1, "caja-1",
                            op("caja-1:1", "sales", "insert", id=s1a, product_id=p1a, quantity=2,
                               unit_price="12.50", sold_at="2026-03-01T11:00:00Z",
                               cashier="cajero-1", note=f"{MARK} venta"),
                            op("caja-1:2", "sales", "insert", id=s1b, product_id=p1b, quantity=1,
                               unit_price="3.10", sold_at="2026-03-01T11:01:00Z",
                               cashier="cajero-1", note=f"{MARK} venta")),
                       "CAJERO 1 sells")
        c.that([r["row"]["line_total"] for r in sold] == ["25.00", "3.10"],
               "line_total computed by the hook", sold)
        c.that(all(r["row"]["branch_id"] == 1 for r in sold), "rows take the seller's branch", sold)
        stock_now = rows(edge, bodega1, "products")
        c.that(stock_now[p1a]["stock"] == 10 and stock_now[p1b]["stock"] == 9,
               "the sales lowered the stock through stock_guard's write (12 - 2, 10 - 1)",
               {k: stock_now[k]["stock"] for k in (p1a, p1b)})
        c.error(push(edge, cajero1, "caja-1",
                     op("caja-1:x", "products", "update", id=p1a, stock=99,
                        updated_at=stamp())), 403, "forbidden",
                "a cashier may not change a stock itself")
        # The per-table path: the operations name no table.
        applied(edge.call("POST", f"{API}/tables/products/push", bodega2,
                          {"device_id": "pc-bodega-2", "operations": [
                              {"op_id": "pc-bodega-2:1", "action": "insert", "data": {
                                  "id": p2a, "sku": "SUC2-MART", "name": "Martillo sucursal 2",
                                  "price": "11.00", "stock": 5, "updated_at": stamp()}}]}),
                "BODEGA 2 adds a product (POST /tables/products/push)")
        applied(push(edge, cajero2, "caja-2",
                     op("caja-2:1", "sales", "insert", id=s2a, product_id=p2a, quantity=1,
                        unit_price="11.00", sold_at="2026-03-01T11:02:00Z", cashier="cajero-2")),
                "CAJERO 2 sells")
        everything = pending(edge, admin)
        c.that(counts(everything) == {"pending": 7, "synced": 0, "error": 0, "conflict": 0},
               "ADMIN counts every entry: 7 PENDING", everything)
        c.that("branch" not in everything and everything["online"] is True,
               "ADMIN without a branch: no branch; online", everything)
        for token, user, n, branch in ((bodega1, "bodega-1", 3, "1"), (cajero1, "cajero-1", 2, "1"),
                                       (bodega2, "bodega-2", 1, "2"), (cajero2, "cajero-2", 1, "2")):
            own = pending(edge, token)
            c.that(counts(own) == {"pending": n, "synced": 0, "error": 0, "conflict": 0}
                   and own["branch"] == branch and own["online"] is True,
                   f"{user} counts its own {n} PENDING entries, branch {branch}", own)
            entries = log(edge, token)
            c.that(len(entries) == n and {e["user"] for e in entries} == {user}
                   and {e["status"] for e in entries} == {"PENDING"},
                   f"{user}'s log holds its own entries only", entries)
        for token in (bodega2, cajero2):
            answer = watch(edge.call("GET", f"{API}/sync/log", token), "branch-2 log")
            c.that(not any(k in answer.body.decode() for k in (p1a, p1b, s1a, s1b)),
                   "no branch-1 key in a branch-2 log", answer)
        c.that(rows(hub, admin, "products") == {} and rows(hub, admin, "sales") == {},
               "nothing reached the hub while the drain is off")

        # ---------------------------------------------------------------------------------
        c.section("the drain pushes the outbox to the hub: SYNCED, every row exactly once")
        edge.stop()
        edge.env["SYNCGATE_JOBS__DRAIN__SCHEDULE"] = EVERY_SECOND
        # Batches of 2 (the example's 50 would take all 7 at once): a run must send several.
        edge.env["SYNCGATE_JOBS__DRAIN__BATCH_SIZE"] = "2"
        edge.start()
        c.that(counts(pending(edge, admin))["pending"] == 7, "the outbox survived a restart")
        counts_become("ADMIN: 0 PENDING, 7 SYNCED", edge, admin,
                      {"pending": 0, "synced": 7, "error": 0, "conflict": 0}, 20)
        entries = log(edge, admin)
        c.that(len(entries) == 7 and all(e["status"] == "SYNCED" and e.get("synced_at")
                                         for e in entries),
               "every entry SYNCED with its time", entries)
        times = [when(e["synced_at"]) for e in entries]
        c.that(max(times) - min(times) < 2, "one run of the drain sent all 4 batches of 2 "
               "(runs are a second apart)", [e["synced_at"] for e in entries])
        c.that([e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
               and all(set(e) == {"id", "op_id", "table", "key", "action", "status",
                                  "attempts", "created_at", "synced_at", "device_id", "user"}
                       and e["action"] == "upsert" for e in entries)
               and {(e["user"], e["device_id"]) for e in entries}
               == {("bodega-1", "pc-bodega-1"), ("cajero-1", "caja-1"),
                   ("bodega-2", "pc-bodega-2"), ("cajero-2", "caja-2")},
               "the log: newest first, its fields, inserts and updates sent as upserts, the "
               "writer's device", entries)
        c.that(counts(pending(edge, bodega1))["synced"] == 3
               and counts(pending(edge, cajero2))["synced"] == 1, "own SYNCED counts")
        for table, keys in (("products", {p1a, p1b, p2a}), ("sales", {s1a, s1b, s2a})):
            at_hub, at_edge = rows(hub, admin, table), rows(edge, admin, table)
            c.that(set(at_hub) == keys, f"the hub holds exactly the edge's {table}",
                   sorted(at_hub))
            c.that(at_hub == at_edge, f"hub {table} = edge {table}, versions included "
                   "(each write applied once)", (at_hub, at_edge))
        c.that(rows(hub, admin, "products")[p1a]["_version"] == 3
               and rows(hub, admin, "products")[p1a]["stock"] == 10
               and rows(hub, admin, "sales")[s1a]["line_total"] == "25.00",
               "insert + update + the sale's stock write = version 3 at the hub: the hub's hooks "
               "lowered its stock once (the edge's stock write was not queued)")
        feed = c.status(hub.call("GET", f"{API}/sync/changes?limit=1000", admin), 200, "hub feed")
        keys = [change["key"] for change in feed["changes"]]
        c.that(len(keys) == 6 and len(set(keys)) == 6, "the hub's feed has each row once", keys)

        # ---------------------------------------------------------------------------------
        c.section("branch scoping: branch 2 never sees or changes branch-1 rows (edge and hub)")
        before = {gw.name: (rows(gw, admin, "products"), rows(gw, admin, "sales"))
                  for gw in (edge, hub)}
        b1_ops = [e for e in log(edge, admin) if e["user"] == "bodega-1"]  # newest first
        for gw in (edge, hub):
            where = gw.name
            for table, key in (("products", p1a), ("products", p1b), ("sales", s1a),
                               ("sales", s1b)):
                c.error(watch(get(gw, bodega2, table, key), where), 404, "row_not_found",
                        f"{where}: BODEGA 2 reads a branch-1 {table} row")
            for token in (bodega2, cajero2):
                for table in ("products", "sales"):
                    seen = rows(gw, token, table)
                    c.that(seen and all(r["branch_id"] == 2 for r in seen.values()),
                           f"{where}: pull {table} as branch 2 gives branch-2 rows only", seen)
                feed = watch(gw.call("GET", f"{API}/sync/changes?limit=1000", token), where)
                body = c.status(feed, 200, f"{where}: changes as branch 2")
                c.that(body["changes"] and all(ch["row"]["branch_id"] == 2
                                               for ch in body["changes"]),
                       f"{where}: the changes feed of branch 2 has branch-2 rows only", body)
            c.error(watch(push(gw, bodega2, "pc-bodega-2",
                               op(f"{where}-x1", "products", "update", id=p1a, stock=0,
                                  updated_at=stamp())), where),
                    404, "row_not_found", f"{where}: BODEGA 2 updates a branch-1 product")
            c.error(watch(push(gw, bodega2, "pc-bodega-2",
                               op(f"{where}-x2", "products", "delete", id=p1a)), where),
                    404, "row_not_found", f"{where}: BODEGA 2 deletes a branch-1 product")
            c.error(watch(push(gw, bodega2, "pc-bodega-2",
                               op(f"{where}-x3", "products", "upsert", id=p1a, sku="SUC2-X",
                                  name="robado", price="1", stock=0, updated_at=stamp())), where),
                    409, "key_taken", f"{where}: BODEGA 2 upserts over a branch-1 product")
            c.error(watch(push(gw, bodega2, "pc-bodega-2",
                               op(f"{where}-x4", "products", "insert", id=new_id(), branch_id=1,
                                  sku="SUC2-Y", name="intruso", price="1", updated_at=stamp())),
                          where),
                    403, "forbidden", f"{where}: BODEGA 2 inserts into branch 1")
            c.error(watch(push(gw, cajero2, "caja-2",
                               op(f"{where}-x5", "sales", "insert", id=new_id(), product_id=p1a,
                                  quantity=1, unit_price="1.00", sold_at="2026-03-01T12:00:00Z",
                                  cashier="cajero-2")), where),
                    422, "rejected_by_hook", f"{where}: CAJERO 2 sells a branch-1 product")
        # Op ids of branch 1, replayed by branch 2 with the same device and the same content:
        # op ids belong to their user, so nothing is replayed and the write is refused.
        replay = watch(push(edge, bodega2, "pc-bodega-1",
                            op("pc-bodega-1:2", "products", "insert", **p1b_data)),
                     "edge replay")
        c.error(replay, 409, "key_taken", "edge: BODEGA 2 replays BODEGA 1's op id")
        drained = b1_ops[-1]  # the drain's op id of BODEGA 1's first insert, at the hub
        replay = watch(push(hub, bodega2, "edge-shared",
                            op(drained["op_id"], "products", "upsert", id=drained["key"],
                               sku="SUC2-Z", name="z", price="1", updated_at=stamp())),
                       "hub replay")
        c.error(replay, 409, "key_taken", "hub: BODEGA 2 reuses the drain's op id of branch 1")
        after = {gw.name: (rows(gw, admin, "products"), rows(gw, admin, "sales"))
                 for gw in (edge, hub)}
        c.that(after == before, "no branch-1 row changed on the edge or the hub")

        # ---------------------------------------------------------------------------------
        c.section("hub down: offline flag, writes stay PENDING, snapshot 503, then catch-up")
        hub.stop(kill=True)

        def offline():
            online, body = upstream_online(edge, cajero1)
            return not online, body

        seen = wait_for("the edge sees the hub offline", offline, 5)
        c.that(seen.get("last_error"), "upstream status names the failure", seen)
        c.that(pending(edge, bodega1)["online"] is False, "pending counts: online false")
        status = c.status(edge.call("GET", f"{API}/sync/snapshot/status", bodega1), 200,
                          "snapshot status offline")
        c.that(status["online"] is False, "snapshot status: online false", status)
        s2b = new_id()
        applied(push(edge, bodega1, "pc-bodega-1",
                     op("pc-bodega-1:4", "products", "update", id=p1b, stock=7,
                        updated_at=stamp())),
                "BODEGA 1 writes while the hub is down")
        applied(push(edge, cajero2, "caja-2",
                     op("caja-2:2", "sales", "insert", id=s2b, product_id=p2a, quantity=1,
                        unit_price="11.00", sold_at="2026-03-01T12:30:00Z", cashier="cajero-2")),
                "CAJERO 2 sells while the hub is down")
        for full in ("false", "true"):
            c.error(edge.call("POST", f"{API}/sync/snapshot?full={full}", bodega1), 503,
                    "hub_unreachable", f"snapshot full={full} without the hub")

        def outage_entries():
            found = [e for e in log(edge, admin) if e["key"] in (p1b, s2b)
                     and e["status"] == "PENDING"]
            # An unreachable hub uses up no tries: the entries wait, attempts still 0.
            return (len(found) == 2 and all(e["attempts"] == 0 and "cannot be reached"
                                            in (e.get("last_error") or "") for e in found),
                    found)

        wait_for("the drain tried and failed; the entries stay PENDING, no try used",
                 outage_entries, 6)
        c.that(counts(pending(edge, admin)) == {"pending": 2, "synced": 7, "error": 0,
                                                "conflict": 0}, "2 PENDING during the outage")
        hub.start()  # the same database
        wait_for("the edge sees the hub online again", lambda: upstream_online(edge, cajero1), 5)
        counts_become("the drain catches up: 0 PENDING, 9 SYNCED", edge, admin,
                      {"pending": 0, "synced": 9, "error": 0, "conflict": 0}, 20)
        products, sales = rows(hub, admin, "products"), rows(hub, admin, "sales")
        c.that(products[p1b]["stock"] == 7 and products[p1b]["_version"] == 3,
               "the offline stock change reached the hub once (after the sale's)", products[p1b])
        c.that(s2b in sales and sales[s2b]["_version"] == 1 and len(sales) == 4,
               "the offline sale reached the hub once", sales)

        # ---------------------------------------------------------------------------------
        c.section("a sale the hub refuses is retried (the ERROR check comes later)")
        applied(push(hub, admin, "oficina",
                     op("oficina:1", "products", "update", id=p1b, stock=1, updated_at=stamp())),
                "head office lowers the stock at the hub")
        s1c = new_id()
        applied(push(edge, cajero1, "caja-1",
                     op("caja-1:3", "sales", "insert", id=s1c, product_id=p1b, quantity=5,
                        unit_price="3.10", sold_at="2026-03-01T13:00:00Z", cashier="cajero-1",
                        note=f"{MARK} venta")),
                "the edge (stock 7) accepts a sale of 5")
        c.that(rows(edge, bodega1, "products")[p1b]["stock"] == 2,
               "the edge lowered its own stock (7 - 5)")
        refused_since = time.time()

        # ---------------------------------------------------------------------------------
        c.section("snapshots: full bootstrap, incremental, status; 400 without a branch")
        hp1, hp2, hs1 = new_id(), new_id(), new_id()
        applied(push(hub, admin, "oficina",
                     op("oficina:2", "products", "insert", id=hp1, branch_id=1, sku=f"{MARK}-SIER",
                        name=f"Sierra {MARK}", price="20.00", stock=4, updated_at=stamp()),
                     op("oficina:3", "products", "insert", id=hp2, branch_id=2, sku="SUC2-SIER",
                        name="Sierra sucursal 2", price="21.00", stock=4, updated_at=stamp()),
                     op("oficina:5", "products", "update", id=p1a, price="13.00",
                        updated_at="2030-01-01T00:00:00Z")),
                "head office writes products of both branches at the hub")
        applied(push(hub, admin, "oficina",
                     op("oficina:4", "sales", "insert", id=hs1, branch_id=1, product_id=hp1,
                        quantity=1, unit_price="20.00", sold_at="2026-03-01T13:05:00Z",
                        cashier="admin", note=f"{MARK} venta central")),
                "head office records a sale of branch 1 at the hub")
        # A branch edit older than head office's change: the hub keeps its row (CONFLICT).
        applied(push(edge, bodega1, "pc-bodega-1",
                     op("pc-bodega-1:5", "products", "update", id=p1a, name=f"Martillo 16oz {MARK}",
                        updated_at="2029-06-01T00:00:00Z")),
                "BODEGA 1 renames a product with an older updated_at")
        conflict = entry_reaches("the hub kept its newer row: the entry ends CONFLICT",
                                 edge, bodega1, p1a, "CONFLICT", 10)
        c.that("hub kept its row" in conflict.get("last_error", ""), "CONFLICT says why", conflict)
        c.that(counts(pending(edge, bodega1))["conflict"] == 1, "BODEGA 1 counts 1 CONFLICT")
        c.error(get(edge, bodega1, "products", hp1), 404, "row_not_found",
                "a hub row is not on the edge before a snapshot")
        status = c.status(edge.call("GET", f"{API}/sync/snapshot/status", bodega1), 200,
                          "snapshot status before any")
        c.that(status == {"online": True, "branch": "1"}, "no last_snapshot yet", status)
        entries_before = sum(counts(pending(edge, admin)).values())
        snap = c.status(edge.call("POST", f"{API}/sync/snapshot?full=true", bodega1), 200,
                        "full snapshot by BODEGA 1")
        # Written: p1a (head office's newer row), p1b (stock 1), hp1, hs1: branch 1's rows only,
        # although this edge's upstream token (ADMIN) reads both branches. The edge's own rows,
        # already equal to the hub's, are not rewritten.
        c.that(snap["success"] is True and snap["counts"] == {"products": 3, "sales": 1}
               and snap["kept_local"] == 0, "full snapshot counts branch 1's rows", snap)
        c.that(hp2 not in rows(edge, admin, "products"),
               "the seed's per-branch snapshot: branch 2's hub row did not come with branch 1's")
        mine = rows(edge, bodega1, "products")
        c.that(hp1 in mine and hp2 not in mine and mine[p1b]["stock"] == 1
               and mine[p1a]["price"] == "13.00" and mine[p1a]["name"] == f"Martillo {MARK}",
               "BODEGA 1 sees its branch's hub rows, head office's values", mine)
        c.that(hs1 in rows(edge, cajero1, "sales"), "CAJERO 1 sees the hub's branch-1 sale")
        c.error(watch(get(edge, bodega2, "products", hp1), "snap"), 404, "row_not_found",
                "BODEGA 2 does not see branch 1's new hub row on the edge")
        c.that(sum(counts(pending(edge, admin)).values()) == entries_before,
               "pulled rows are not queued back to the hub")
        status = c.status(edge.call("GET", f"{API}/sync/snapshot/status", bodega1), 200,
                          "snapshot status")
        c.that(status == {"online": True, "branch": "1", "last_snapshot": snap["snapshot_at"]},
               "last_snapshot = the snapshot's snapshot_at", status)
        other = c.status(edge.call("GET", f"{API}/sync/snapshot/status", cajero2), 200,
                         "snapshot status of branch 2")
        c.that(other == {"online": True, "branch": "2"},
               "branch 2 has had no snapshot: last_snapshot is per branch", other)
        applied(push(hub, admin, "oficina",
                     op("oficina:6", "products", "update", id=hp2, price="22.50",
                        updated_at=stamp())), "head office changes a branch-2 price")
        snap2 = c.status(edge.call("POST", f"{API}/sync/snapshot", cajero2), 200,
                         "incremental snapshot by CAJERO 2: branch 2's first")
        c.that(snap2["counts"] == {"products": 1}, "branch 2's hub row, with its new price (the "
               "branch's other rows came from this edge and are equal)", snap2)
        c.that(rows(edge, cajero2, "products")[hp2]["price"] == "22.50", "the new price is here")
        other = c.status(edge.call("GET", f"{API}/sync/snapshot/status", cajero2), 200,
                         "snapshot status of branch 2 again")
        c.that(other.get("last_snapshot") == snap2["snapshot_at"], "its own snapshot's time",
               other)
        status = c.status(edge.call("GET", f"{API}/sync/snapshot/status", bodega1), 200,
                          "snapshot status of branch 1 again")
        c.that(status.get("last_snapshot") == snap["snapshot_at"], "branch 1's is unchanged",
               status)
        snap = c.status(edge.call("POST", f"{API}/sync/snapshot?full=false", bodega1), 200,
                        "incremental snapshot, nothing new")
        c.that(snap["counts"] == {}, "incremental with nothing new writes nothing", snap)
        snap = c.status(edge.call("POST", f"{API}/sync/snapshot?full=true", admin1), 200,
                        "full snapshot again (ADMIN with a branch)")
        c.that(snap["counts"] == {} and snap["kept_local"] == 0,
               "a full snapshot rewrites nothing that is already equal", snap)
        for token, who in ((no_branch, "BODEGA without a branch"), (admin, "ADMIN without a branch")):
            for method, path in (("POST", "/sync/snapshot"), ("POST", "/sync/snapshot?full=true"),
                                 ("GET", "/sync/snapshot/status")):
                error = c.error(edge.call(method, API + path, token), 400, "bad_request",
                                f"{who}: {method} {path}")
                c.that(error["details"].get("field") == "branch", "the error names the branch",
                       error)
        c.that("branch" not in pending(edge, no_branch), "pending counts without a branch")

        # ---------------------------------------------------------------------------------
        c.section("an edge of branch 2 alone (EDGE token): its snapshot brings branch 2 only")
        edge_jwt = hub.token("edge-sucursal-2", "EDGE", branch=2)
        edge2 = edge_gateway(hub, edge_jwt, "edge-sucursal-2", "", "")  # drain off for now
        edge2.start()
        snap = c.status(edge2.call("POST", f"{API}/sync/snapshot?full=true", bodega2), 200,
                        "full bootstrap of a new branch-2 edge")
        c.that(snap["counts"] == {"products": 2, "sales": 2}, "branch 2's rows, no more", snap)
        everything = {**rows(edge2, admin, "products"), **rows(edge2, admin, "sales")}
        c.that(set(everything) == {p2a, hp2, s2a, s2b}, "even ADMIN finds only branch-2 rows "
               "there", sorted(everything))
        c.that(not any(k in everything for k in (p1a, p1b, hp1, s1a, s1b, hs1)),
               "no branch-1 row on the branch-2 edge")

        c.section("a snapshot over writes not yet drained: kept_local, or CONFLICT in sales")
        applied(push(edge2, bodega2, "pc-bodega-2",
                     op("pc-bodega-2:8", "products", "update", id=p2a, price="11.50",
                        updated_at=stamp())), "BODEGA 2 changes a price (not drained yet)")
        applied(push(edge2, admin, "oficina-2",
                     op("oficina-2:1", "sales", "update", id=s2a, note="corregida")),
                "ADMIN corrects a sale on the edge (not drained yet)")
        snap = c.status(edge2.call("POST", f"{API}/sync/snapshot?full=true", bodega2), 200,
                        "full snapshot over undrained writes")
        c.that(snap["counts"] == {"sales": 1} and snap["kept_local"] == 1,
               "the product is kept local; the sale (server_wins) is the hub's again", snap)
        c.that(rows(edge2, bodega2, "products")[p2a]["price"] == "11.50"
               and rows(edge2, bodega2, "sales")[s2a].get("note") is None,
               "the local price stays; the sale's local note is gone")
        mine = entry_of(edge2, admin, s2a)
        c.that(mine["status"] == "CONFLICT" and "snapshot" in mine.get("last_error", ""),
               "the replaced sale's entry is CONFLICT", mine)
        c.that(entry_of(edge2, admin, p2a)["status"] == "PENDING", "the price's entry waits")

        c.section("the branch-2 edge on a hub device token: drains, refusals, 5 tries")
        device = c.status(hub.call("POST", f"{API}/sync/devices", edge_jwt,
                                   {"id": "edge-sucursal-2", "name": "edge sucursal 2",
                                    "platform": "syncgate-edge", "app_version": "1"}), 201,
                          "the edge registers at the hub with its EDGE JWT")
        days = (when(device["device"]["token_expires_at"]) - time.time()) / 86400
        c.that(device["token"].startswith("sgd_") and 29.9 < days < 30.1,
               "a device token, valid for the hub's devices.token_ttl (30 days)", device)
        c.error(push(hub, device["token"], "another-edge",
                     op("another-edge:1", "products", "update", id=p2a, price="1.00",
                        updated_at=stamp())), 403, "forbidden",
                "the device token pushes under another device id")
        edge2.stop()
        edge2.env["SYNCGATE_UPSTREAM__TOKEN"] = device["token"]
        edge2.env["SYNCGATE_JOBS__DRAIN__SCHEDULE"] = EVERY_SECOND
        edge2.start()
        p2c, p1x = new_id(), new_id()
        applied(push(edge2, bodega2, "pc-bodega-2",
                     op("pc-bodega-2:9", "products", "insert", id=p2c, sku="SUC2-TAL",
                        name="Taladro", price="55.00", stock=2, updated_at=stamp())),
                "BODEGA 2 adds a product on its edge")
        applied(push(edge2, bodega1, "pc-bodega-1",
                     op("pc-bodega-1:9", "products", "insert", id=p1x, sku=f"{MARK}-X",
                        name=f"Intruso {MARK}", price="1.00", updated_at=stamp())),
                "a branch-1 user writes on the branch-2 edge (accepted locally)")
        p1x_refused_since = time.time()
        tries = []  # (time, attempts) of p1x's entry each time its tries change
        watcher = threading.Thread(target=watch_tries, args=(edge2, admin, p1x, tries),
                                   daemon=True)
        watcher.start()
        entry_reaches("the price drains with the device token", edge2, bodega2, p2a, "SYNCED",
                      10)
        c.that(rows(hub, admin, "products")[p2a]["price"] == "11.50", "the hub has the price")
        # Drained writes carry no base version: an ADMIN edit of a sale on an edge overwrites
        # head office's later edit of it at the hub (README, differences).
        applied(push(hub, admin, "oficina",
                     op("oficina:9", "sales", "update", id=s2a, note="central")),
                "head office edits the sale at the hub")
        applied(push(edge2, admin, "oficina-2",
                     op("oficina-2:2", "sales", "update", id=s2a, note="sucursal")),
                "ADMIN edits the same sale on the edge (an older version)")
        entry_reaches("the edge's edit drains", edge2, admin, s2a, "SYNCED", 10)
        c.that(rows(hub, admin, "sales")[s2a]["note"] == "sucursal",
               "it overwrote head office's edit at the hub")
        entry_reaches("the branch-2 edge drains its branch's product", edge2, bodega2, p2c,
                      "SYNCED", 10)
        c.that(p2c in rows(hub, bodega2, "products"), "the hub has it, for branch 2")

        # ---------------------------------------------------------------------------------
        c.section("a hub that answers 502 behind a healthy /health: 503, whatever the flag says")
        broken = BrokenHub()
        edge3 = edge_gateway(broken, "any", "edge-broken", "", "")
        try:
            edge3.start()
            wait_for("the flag says online (/health answers)",
                     lambda: upstream_online(edge3, bodega1), 5)
            c.error(edge3.call("POST", f"{API}/sync/snapshot", bodega1), 503, "hub_unreachable",
                    "the snapshot tries the hub, which answers 502")
        finally:
            edge3.close()
            broken.close()

        # ---------------------------------------------------------------------------------
        c.section("the till writes its local SQLite directly (no push): insert, update, delete "
                  "reach the hub")
        # Seed 000's point-of-sale app writes the branch's database itself; the edge picks the
        # row up (README: "Writes made outside the gateway"), records it in its outbox and the
        # drain carries it upstream, where the hub's hooks run as for any pushed sale.
        s1t = new_id()
        edge.sql(
            "INSERT INTO sales (id, branch_id, product_id, quantity, unit_price, sold_at, cashier) "
            f"VALUES ('{s1t}', 1, '{p1a}', 1, '2.50', '2026-03-01T12:00:00Z', 'till-1')"
        )
        def till_sale_at_hub():
            row = rows(hub, admin, "sales").get(s1t)
            return row is not None, row

        sale = wait_for("the till's sale reaches the hub", till_sale_at_hub, 20)
        c.that(sale["line_total"] == "2.50" and sale["cashier"] == "till-1",
               "the hub has the sale, its line_total set by the hub's hook", sale)
        entry_reaches("the edge's sync log lists it, SYNCED", edge, admin, s1t, "SYNCED", 10)
        # Its UPDATE and DELETE go the same way (a sale: only the edge's ADMIN token may
        # change or delete it at the hub).
        edge.sql(f"UPDATE sales SET note = 'anulada' WHERE id = '{s1t}'")

        def annulled():
            row = rows(hub, admin, "sales").get(s1t, {})
            return row.get("note") == "anulada", row

        wait_for("the till's UPDATE reaches the hub", annulled, 10)
        edge.sql(f"DELETE FROM sales WHERE id = '{s1t}'")

        def deleted():
            entry = entry_of(edge, admin, s1t)
            return entry["action"] == "delete" and entry["status"] == "SYNCED", entry

        wait_for("the till's DELETE is drained: an entry with action delete, SYNCED", deleted, 10)
        c.error(get(hub, admin, "sales", s1t), 404, "row_not_found", "the hub deleted the sale")


        # ---------------------------------------------------------------------------------
        c.section("entries the hub keeps refusing end in ERROR after 5 tries; retry by hand")
        # Tries at about 0, 2, 6, 14 and 30 s (the drain's pauses double from 2 s).
        error = entry_reaches("the refused sale ends in ERROR", edge, cajero1, s1c, "ERROR",
                              max(5, 50 - (time.time() - refused_since)))
        c.that(error["attempts"] == 5 and "not enough stock" in error.get("last_error", ""),
               "5 tries, with the hub's refusal", error)
        c.that(counts(pending(edge, cajero1))["error"] == 1 and counts(pending(edge, admin))
               == {"pending": 0, "synced": 12, "error": 1, "conflict": 1},
               "CAJERO 1 and ADMIN count it in error")
        for token in (bodega1, bodega2, cajero2):
            c.that(counts(pending(edge, token))["error"] == 0, "others do not count it")
        only = c.status(edge.call("GET", f"{API}/sync/log?status=ERROR", admin), 200,
                        "GET /sync/log?status=ERROR")["entries"]
        c.that([e["key"] for e in only] == [s1c], "status= lists the ERROR entry only", only)
        still = entry_of(edge, bodega1, p1a)
        c.that(still["status"] == "CONFLICT" and still["attempts"] == conflict["attempts"],
               "the CONFLICT entry was not tried again", (conflict, still))
        c.error(get(hub, admin, "sales", s1c), 404, "row_not_found", "the hub has no such sale")
        time.sleep(2.5)
        again = entry_of(edge, cajero1, s1c)
        c.that(again["status"] == "ERROR" and again["attempts"] == 5,
               "ERROR is not retried automatically", again)
        for token, who in ((cajero2, "CAJERO 2"), (bodega1, "BODEGA 1")):
            answer = watch(edge.call("POST", f"{API}/sync/log/retry", token,
                                     {"ids": [error["id"]]}), "retry")
            c.that(c.status(answer, 200, f"{who} retries")["requeued"] == 0,
                   f"{who} cannot retry CAJERO 1's entry", answer)
        applied(push(hub, admin, "oficina",
                     op("oficina:7", "products", "update", id=p1b, stock=20,
                        updated_at=stamp())), "head office restocks at the hub")
        answer = edge.call("POST", f"{API}/sync/log/retry", cajero1, {})
        c.that(c.status(answer, 200, "CAJERO 1 retries its ERROR entries")["requeued"] == 1,
               "one entry re-queued", answer)
        entry_reaches("the retried sale is SYNCED", edge, cajero1, s1c, "SYNCED", 10)
        sale = rows(hub, admin, "sales")[s1c]
        c.that(sale["_version"] == 1 and sale["line_total"] == "15.50",
               "the sale reached the hub once", sale)
        refused = entry_reaches("the branch-1 write on the branch-2 edge ends in ERROR", edge2,
                                admin, p1x, "ERROR",
                                max(5, 50 - (time.time() - p1x_refused_since)))
        c.that(refused["attempts"] == 5 and "scope" in refused.get("last_error", ""),
               "the hub refused it 5 times (outside the EDGE token's branch)", refused)
        c.error(get(hub, admin, "products", p1x), 404, "row_not_found",
                "the hub never got the branch-1 row from the branch-2 edge")
        watcher.join(5)
        at = {attempts: seen for seen, attempts in tries}
        pauses = [round(at[n + 1] - at[n], 1) for n in range(1, 5) if n in at and n + 1 in at]
        c.that(len(pauses) == 4 and all(2 ** n - 0.5 < pause < 2 ** n + 2.5
                                        for n, pause in zip(range(1, 5), pauses)),
               "between its tries the drain waited about 2, 4, 8 and 16 s", pauses)
        answer = edge2.call("POST", f"{API}/sync/log/retry", admin, {})
        c.that(c.status(answer, 200, "ADMIN retries every ERROR entry")["requeued"] == 1,
               "ADMIN re-queues BODEGA 1's entry", answer)
        again = entry_of(edge2, admin, p1x)
        c.that(again["status"] == "PENDING" and again["attempts"] <= 1,
               "back to PENDING, its tries reset", again)

        # ---------------------------------------------------------------------------------
        c.section("the hub refuses a replaced device token: 502 hub_refused")
        fresh = c.status(hub.call("POST", f"{API}/sync/devices/edge-sucursal-2/token", edge_jwt),
                         200, "a new device token for the branch-2 edge")
        c.error(edge2.call("POST", f"{API}/sync/snapshot", bodega2), 502, "hub_refused",
                "a snapshot with the old token")
        c.status(hub.call("GET", f"{API}/sync/changes?limit=1", fresh["token"]), 200,
                 "the new token works at the hub")

        # ---------------------------------------------------------------------------------
        c.section("the snapshot job refreshes the edge without a call, every branch")
        last = {token: c.status(edge.call("GET", f"{API}/sync/snapshot/status", token), 200,
                                "status")["last_snapshot"] for token in (bodega1, bodega2)}
        edge.stop()
        edge.env["SYNCGATE_JOBS__SNAPSHOT__SCHEDULE"] = EVERY_SECOND
        edge.start()
        applied(push(hub, admin, "oficina",
                     op("oficina:8", "products", "update", id=hp2, name="Sierra circular",
                        updated_at=stamp()),
                     op("oficina:10", "products", "update", id=hp1, name=f"Sierra de calar {MARK}",
                        updated_at=stamp())), "head office renames a product of each branch")

        def renamed():
            two = rows(edge, bodega2, "products").get(hp2, {})
            one = rows(edge, bodega1, "products").get(hp1, {})
            return (two.get("name") == "Sierra circular"
                    and one.get("name") == f"Sierra de calar {MARK}"), (one, two)

        wait_for("both renamed products reach the edge", renamed, 10)
        health = c.status(edge.call("GET", "/health"), 200, "health")
        job = health["jobs"].get("snapshot", {})
        c.that(job.get("runs", 0) >= 1 and job.get("ok") is True, "the snapshot job ran", job)
        for token in (bodega1, bodega2):
            status = c.status(edge.call("GET", f"{API}/sync/snapshot/status", token), 200,
                              "status")
            c.that(status["last_snapshot"] > last[token], "last_snapshot moved on, per branch",
                   (last[token], status))

        c.section("no leak")
        c.that(not leaks, "no branch-1 data in any answer to branch 2", leaks)
        print(f"  {time.time() - started:.1f} s", flush=True)
    except BaseException:
        for gw in (hub, edge, edge2):
            if gw is not None:
                print(f"--- {gw.name} log:\n{gw.log()}", file=sys.stderr)
        raise
    finally:
        for gw in (edge2, edge, hub):
            if gw is not None:
                gw.close()


if __name__ == "__main__":
    run("000-ferred-inventory", scenario)
