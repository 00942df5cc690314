#!/usr/bin/env python3
"""Seed 002 (cloud-sync-api) end to end: a real `syncgate serve` from this example's config,
driven through every flow of the seed — health, database status and the allowed tables, the
one-transaction push of insert / update / delete, the table allowlist, pull by tables with its
limit — plus what syncgate adds on top (op ids, conflicts, `atomic: false`, per-table push, rows
by key, devices and their tokens, and the optional per-shop role).

    E2E_SYNCGATE_BIN=/work/helper-bin/syncgate python3 examples/002-cloud-sync-api/e2e.py
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import e2e_lib  # noqa: E402

# e2e_lib has read SYNCGATE_BIN already, and hands the whole environment to the gateway and to
# `syncgate token`, which read every SYNCGATE_* variable as a config key: an unknown `bin` (or
# `config`) key would stop them.
for name in ("SYNCGATE_BIN", "SYNCGATE_CONFIG"):
    os.environ.pop(name, None)

EXAMPLE = Path(__file__).resolve().parent
ALLOWED = ["sales", "item_sales", "products", "customers", "product_stock"]


def push(gw, token, operations, device_id="shop_01", **extra):
    return gw.call(
        "POST",
        "/sync/push",
        token=token,
        body={"device_id": device_id, "operations": operations, **extra},
    )


def pull(gw, token, **body):
    return gw.call("POST", "/sync/pull", token=token, body=body)


def rows_of(gw, token, table):
    """Every live row of `table` the token may read, by primary key."""
    answer = pull(gw, token, tables=[table], limit=5000)
    if answer.status != 200:
        raise SystemExit(f"FAILED: pull of {table}: {answer!r}")
    return {row["id"]: row for row in answer.json["data"][table]}


def scenario(backend, checks):
    e2e_lib.drive(EXAMPLE, backend, checks, lambda gw, c: run(gw, backend, c))


def run(gw, backend, c):
    device = gw.token("pos-1", "DEVICE")
    other_device = gw.token("pos-2", "DEVICE")
    till1 = gw.token("till-1", "SHOP", branch="shop_01")
    till2 = gw.token("till-2", "SHOP", branch="shop_02")

    c.section("GET /health and the seed's GET /sync/status (database up, allowed tables)")
    health = c.status(gw.call("GET", "/health"), 200, "GET /health")
    c.that(health["status"] == "ok", "health says ok", health)
    c.that(health["schema"]["tables"] == len(ALLOWED), "health counts the 5 tables", health)
    c.that({"version", "jobs"} <= set(health), "health also has version and jobs", health)
    c.that("auth.anonymous_role is set" in (gw.work / "log").read_text(errors="replace"),
           "the gateway warned at start that requests without a token are served")
    ready = c.status(gw.call("GET", "/ready"), 200, "GET /ready (the database answers)")
    c.that(ready == {"status": "ready", "database": backend}, "ready names the backend", ready)
    c.error(gw.call("POST", "/sync/pull", token="not-a-jwt", body={}), 401, "unauthorized",
            "a token that fails is refused, not served anonymously")
    tables = c.status(pull(gw, device, limit=1), 200, "pull of every table")
    c.that(sorted(tables["data"]) == sorted(ALLOWED), "pull lists the allowed tables", tables)
    status = c.status(gw.call("GET", "/sync/status", token=device), 200, "GET /sync/status")
    c.that(
        sorted(status["data_summary"]["tables"]) == sorted(ALLOWED),
        "status summarises the allowed tables",
        status,
    )
    c.that({"sync_status", "devices"} <= set(status) and "allowed_tables" not in status,
           "status has seed 003's shape, not the seed's allowed_tables", status)

    c.section("the seed's own push, unchanged: no token, an empty database, POST /sync too")
    seed_batch = [
        {"table": "sales", "action": "insert",
         "data": {"id": "123", "customer_id": "C001", "total": 1000}},
        {"table": "product_stock", "action": "update", "data": {"id": "P001", "quantity": 20}},
    ]
    seed_body = {"device_id": "shop_01", "operations": seed_batch}
    answer = c.status(gw.call("POST", "/sync/push", body=seed_body), 200,
                      "the seed's example request, without a token")
    c.that(answer["success"] is True and answer["errors"] == [], "success, no errors", answer)
    c.that(
        [(a["table"], a["key"], a["version"]) for a in answer["applied"]]
        == [("sales", "123", 1), ("product_stock", "P001", 0)],
        "the sale is written; the update of the missing P001 succeeds writing nothing (version 0)",
        answer,
    )
    c.that("row" not in answer["applied"][1], "no row for the ignored update", answer)
    c.that(set(answer) == {"success", "applied", "conflicts", "errors", "cursor"}
           and answer["conflicts"] == []
           and set(answer["applied"][0]) == {"index", "table", "key", "status", "version",
                                             "deleted", "row", "replayed"}
           and answer["applied"][0]["status"] == "applied"
           and answer["applied"][0]["row"] == {"id": "123", "shop_id": None,
                                               "customer_id": "C001", "total": "1000",
                                               "created_at": None, "_version": 1},
           "the answer's shape: each operation's outcome and the row as stored", answer)
    c.that(rows_of(gw, device, "product_stock") == {}, "no stock row was created")
    public = c.status(gw.call("POST", "/sync/pull", body={"tables": ["sales"]}), 200,
                      "the seed's pull, without a token")
    c.that([r["id"] for r in public["data"]["sales"]] == ["123"], "reads the sale", public)
    again = c.status(gw.call("POST", "/sync", body=seed_body), 200,
                     "the same body to the seed's backward-compatible POST /sync")
    c.that(
        [c2["key"] for c2 in again["conflicts"]] == ["123"]
        and [(a["table"], a["version"]) for a in again["applied"]] == [("product_stock", 0)],
        "POST /sync is the push: sale 123 again is a conflict, P001 is still ignored",
        again,
    )
    c.error(gw.call("GET", "/sync"), 404, "not_found", "GET /sync is no endpoint")
    c.error(gw.call("POST", "/sync/push", body={"operations": seed_batch}), 400, "bad_request",
            "a push without device_id (the seed accepts it)")
    nothing = [{"table": "sales", "action": "delete", "data": {"id": "S404"}}]
    for device_id, expected in (("", 422), ("d" * 201, 422), ("d" * 200, 200)):
        c.status(gw.call("POST", "/sync/push", body={"device_id": device_id,
                                                     "operations": nothing}),
                 expected, f"a device_id of {len(device_id)} characters")
    document = c.status(gw.call("GET", "/openapi.json"), 200, "the OpenAPI document")
    alias = document["paths"].get("/sync", {}).get("post", {})
    c.that(alias.get("deprecated") is True, "POST /sync is documented as a deprecated alias",
           alias.get("summary"))
    c.that(document["security"] == [{"BearerAuth": []}, {}], "the token is optional",
           document["security"])
    per_table = [f"/tables/{table}/{path}" for table in ALLOWED
                 for path in ("push", "changes", "rows/{pk}")]
    c.that(all(path in document["paths"] for path in per_table),
           "the document has each table's own paths", sorted(document["paths"]))
    c.that(gw.call("GET", "/docs").status == 200, "the docs page is served")

    c.section("POST /sync/push with a token: the batch in one transaction")
    first = c.status(
        push(gw, device, [{"table": "product_stock", "action": "insert",
                           "data": {"id": "P001", "quantity": 5}}]),
        200,
        "stock row P001 created",
    )
    c.that(first["applied"][0]["version"] == 1, "a new row has version 1", first)
    answer = c.status(push(gw, device, seed_batch[1:]), 200, "the seed's stock update again")
    c.that(
        [(a["table"], a["key"], a["version"]) for a in answer["applied"]]
        == [("product_stock", "P001", 2)],
        "now that P001 exists the update applies, version 2",
        answer,
    )
    sales = rows_of(gw, device, "sales")
    c.that(sales["123"]["customer_id"] == "C001", "the sale is stored", sales)
    c.that(sales["123"]["total"] == "1000", "decimal total comes back as text", sales)
    stock = rows_of(gw, device, "product_stock")
    c.that(stock["P001"]["quantity"] == 20, "the update changed quantity", stock)
    head = answer["cursor"]

    c.section("the table allowlist: an unknown table refuses the whole batch")
    refused = c.error(
        push(gw, device, [
            {"table": "sales", "action": "insert", "data": {"id": "200", "total": 1}},
            {"table": "users", "action": "insert", "data": {"id": "1"}},
        ]),
        404,
        "unknown_table",
        "a table outside ALLOWED_TABLES",
    )
    c.that(refused["details"]["index"] == 1, "the error names the operation", refused)
    c.that(refused["details"]["table"] == "users" and "op_id" in refused["details"],
           "and its table and op_id", refused)
    c.that(
        refused["details"]["available_tables"] == ALLOWED,
        "the error lists the allowed tables",
        refused,
    )
    c.that("200" not in rows_of(gw, device, "sales"), "the valid insert before it was rolled back")
    unknown = c.error(
        pull(gw, device, tables=["sales", "users"]),
        404,
        "unknown_table",
        "pull of an unknown table",
    )
    c.that(unknown["details"] == {"table": "users", "available_tables": ALLOWED},
           "the pull's error names the table and lists the allowed ones", unknown)
    c.error(
        pull(gw, device, tables=["sales; DROP TABLE sales"]),
        404,
        "unknown_table",
        "a table name carrying SQL is only a name",
    )
    c.that("123" in rows_of(gw, device, "sales"), "the sales table is intact")

    c.section("one transaction: any failing operation writes nothing (the seed's 'Sync failed')")
    invalid = c.error(
        push(gw, device, [
            {"table": "customers", "action": "insert", "data": {"id": "C001", "name": "Ana"}},
            {"table": "sales", "action": "insert", "data": {"id": "201", "total": -5}},
        ]),
        422,
        "validation_failed",
        "a negative total",
    )
    c.that(invalid["details"]["field"] == "total", "the error names the field", invalid)
    c.that(rows_of(gw, device, "customers") == {}, "the customer before it was rolled back")
    forbidden = c.error(
        push(gw, device, [
            {"table": "customers", "action": "insert", "data": {"id": "C001", "name": "Ana"}},
            {"table": "sales", "action": "insert", "data": {"id": "201", "shop_id": "x" * 65,
                                                             "total": 1}},
        ]),
        422,
        "validation_failed",
        "a shop id longer than its 64 characters",
    )
    c.that(forbidden["details"]["index"] == 1, "names the failing operation", forbidden)
    c.that(rows_of(gw, device, "customers") == {}, "still nothing written")

    c.section("update or delete of a missing row: succeeds writing nothing, as MySQL's does")
    missing = c.status(
        push(gw, device, [
            {"table": "item_sales", "action": "insert",
             "data": {"id": "L1", "sale_id": "123", "product_id": "P001", "quantity": 1,
                      "price": 1}},
            {"table": "product_stock", "action": "update", "data": {"id": "P404", "quantity": 1}},
            {"table": "sales", "action": "delete", "data": {"id": "S404"}},
        ]),
        200,
        "an insert, an update and a delete of rows that do not exist",
    )
    c.that(
        [(a["key"], a["version"], a["deleted"]) for a in missing["applied"]]
        == [("L1", 1, False), ("P404", 0, False), ("S404", 0, True)],
        "all three applied; the two missing rows answered with version 0",
        missing,
    )
    c.that(sorted(rows_of(gw, device, "item_sales")) == ["L1"], "the line is written")
    c.that("P404" not in rows_of(gw, device, "product_stock"), "no stock row P404 appears")
    tail = c.status(gw.call("GET", f"/sync/changes?cursor={head}&tables=product_stock,sales",
                            token=device), 200, "the feed since the seed's push")
    c.that(
        not any(ch["key"] in ("P404", "S404") for ch in tail["changes"]),
        "no feed entry for what was ignored",
        tail,
    )
    upsert = c.status(
        push(gw, device, [{"table": "product_stock", "action": "upsert",
                           "data": {"id": "P002", "quantity": 3}}]),
        200,
        "upsert: update or create",
    )
    c.that(upsert["applied"][0]["version"] == 1, "upsert created the missing row", upsert)
    unknown_column = c.error(
        push(gw, device, [{"table": "sales", "action": "insert",
                           "data": {"id": "202", "totl": 5, "total": 5}}]),
        422,
        "validation_failed",
        "an unknown column",
    )
    c.that("did you mean `total`" in unknown_column["message"], "suggests the column",
           unknown_column)
    c.error(
        gw.call("POST", "/sync/push", token=device, data=b'{"device_id": "x", "operations": [',
                headers={"Content-Type": "application/json"}),
        400,
        "malformed_json",
        "a body that is not JSON",
    )

    c.section("delete, and what the other devices then see")
    c.status(
        push(gw, device, [
            {"table": "customers", "action": "insert", "data": {"id": "C001", "name": "Ana"}},
            {"table": "customers", "action": "insert", "data": {"id": "C002", "name": "Ben"}},
        ]),
        200,
        "two customers",
    )
    deleted = c.status(
        push(gw, device, [{"table": "customers", "action": "delete", "data": {"id": "C002"}}]),
        200,
        "delete C002",
    )
    c.that(
        deleted["applied"][0]["deleted"] is True and deleted["applied"][0]["version"] == 2,
        "the delete is a new version, a tombstone",
        deleted,
    )
    c.that(sorted(rows_of(gw, other_device, "customers")) == ["C001"], "pull shows live rows only")
    feed = c.status(
        gw.call("GET", f"/sync/changes?cursor={head}&tables=customers", token=other_device),
        200,
        "the changes feed since the earlier cursor",
    )
    c.that(
        {(ch["key"], ch["deleted"]) for ch in feed["changes"]} == {("C001", False), ("C002", True)},
        "another device learns of the insert and of the delete",
        feed,
    )

    c.section("POST /sync/pull: tables, limit (default 1000, capped at 5000), pages")
    c.status(
        push(gw, device, [
            {"table": "products", "action": "insert",
             "data": {"id": f"P{i:03}", "name": f"Product {i}", "price": "1.50"}}
            for i in range(1, 4)
        ]),
        200,
        "three products",
    )
    picked = c.status(pull(gw, device, tables=["sales", "product_stock"], limit=500), 200,
                      "the seed's pull body")
    c.that(picked["success"] is True and picked["limit"] == 500, "success and the limit", picked)
    c.that(sorted(picked["data"]) == ["product_stock", "sales"], "only the asked tables", picked)
    c.that([r["id"] for r in picked["data"]["sales"]] == ["123"], "the sale", picked)
    c.that(set(picked) == {"success", "data", "removed", "limit", "cursor", "has_more"}
           and picked["removed"] == {} and picked["has_more"] is False,
           "the answer's shape: cursor, has_more and (empty) removed", picked)
    c.that(all(row["_version"] >= 1 for rows in picked["data"].values() for row in rows),
           "each row carries its _version", picked)
    c.that(c.status(pull(gw, device), 200, "no limit")["limit"] == 1000, "limit defaults to 1000")
    c.that(
        c.status(pull(gw, device, limit=100000), 200, "a huge limit")["limit"] == 5000,
        "limit is capped at 5000",
    )
    c.error(pull(gw, device, limit=0), 422, "validation_failed", "limit 0")
    page = c.status(pull(gw, device, tables=["products"], limit=2), 200, "first page of 2")
    c.that(
        len(page["data"]["products"]) == 2 and page["has_more"] is True,
        "two rows and more to come",
        page,
    )
    rest = c.status(
        pull(gw, device, tables=["products"], limit=2, cursor=page["cursor"]), 200, "next page"
    )
    c.that(
        len(rest["data"]["products"]) == 1 and rest["has_more"] is False,
        "the last row, nothing more",
        rest,
    )
    c.that(
        {r["id"] for r in page["data"]["products"] + rest["data"]["products"]}
        == {"P001", "P002", "P003"},
        "the pages together hold every product once",
    )
    both = c.status(pull(gw, device, tables=["products", "sales"], limit=1), 200,
                    "limit 1, 2 tables")
    c.that(
        sum(len(v) for v in both["data"].values()) == 1,
        "the limit counts rows across tables, not per table",
        both,
    )

    c.section("retries and conflicts (beyond the seed)")
    retry = [{"op_id": "pos-1:7", "table": "sales", "action": "insert",
              "data": {"id": "300", "total": "12.5"}}]
    c.status(push(gw, device, retry, device_id="pos-1"), 200, "a push with an op_id")
    again = c.status(push(gw, device, retry, device_id="pos-1"), 200, "the same push again")
    c.that(
        again["applied"][0]["replayed"] is True and again["applied"][0]["version"] == 1,
        "the retry is answered from the first outcome, nothing written twice",
        again,
    )
    reused = c.error(
        push(gw, device, [{"op_id": "pos-1:7", "table": "sales", "action": "insert",
                           "data": {"id": "301", "total": 1}}], device_id="pos-1"),
        422,
        "op_id_reused",
        "the op_id for another change",
    )
    c.that(reused["details"]["field"] == "op_id", "names op_id", reused)
    c.error(
        push(gw, device, [
            {"op_id": "x", "table": "sales", "action": "insert", "data": {"id": "302", "total": 1}},
            {"op_id": "x", "table": "sales", "action": "insert", "data": {"id": "303", "total": 1}},
        ]),
        422,
        "op_id_reused",
        "one op_id twice in a batch",
    )
    dup = c.status(
        push(gw, other_device, [{"table": "sales", "action": "insert",
                                 "data": {"id": "123", "customer_id": "C999", "total": 1}}]),
        200,
        "a second insert of sale 123",
    )
    c.that(
        dup["applied"] == [] and dup["conflicts"][0]["conflict"]["resolution"] == "server_kept",
        "sales keep the first insert (server_wins) and report the conflict",
        dup,
    )
    c.that(rows_of(gw, device, "sales")["123"]["customer_id"] == "C001", "sale 123 unchanged")
    line = c.status(
        push(gw, other_device, [{"table": "item_sales", "action": "insert",
                                 "data": {"id": "L1", "sale_id": "123", "product_id": "P002",
                                          "quantity": 5, "price": 1}}]),
        200,
        "a second insert of sale line L1",
    )
    c.that(line["applied"] == [] and line["conflicts"][0]["conflict"]["resolution"] == "server_kept"
           and rows_of(gw, device, "item_sales")["L1"]["product_id"] == "P001",
           "sale lines keep the first insert too (server_wins)", line)
    renamed = c.status(
        push(gw, other_device, [{"table": "customers", "action": "insert",
                                 "data": {"id": "C001", "name": "Ana Lima"}}]),
        200,
        "a second insert of customer C001",
    )
    c.that(renamed["applied"][0]["version"] == 2
           and renamed["applied"][0]["conflict"]["resolution"] == "client_applied"
           and renamed["applied"][0]["conflict"]["server_row"]["name"] == "Ana"
           and rows_of(gw, device, "customers")["C001"]["name"] == "Ana Lima",
           "customers take the new insert (client_wins) and say which row it replaced", renamed)
    for table, data in (("products", {"id": "P003", "name": "Product 3b"}),
                        ("product_stock", {"id": "P002", "quantity": 4})):
        again = c.status(push(gw, other_device, [{"table": table, "action": "insert",
                                                  "data": data}]), 200, f"{table}: insert again")
        stored = rows_of(gw, device, table)[data["id"]]
        c.that([(a["version"], a["conflict"]["resolution"]) for a in again["applied"]]
               == [(2, "client_applied")] and again["conflicts"] == []
               and all(stored[column] == value for column, value in data.items()),
               f"{table} take the new insert too (client_wins)", (again, stored))
    stale = c.status(
        push(gw, other_device, [{"table": "product_stock", "action": "update",
                                 "data": {"id": "P001", "quantity": 7}, "base_version": 1}]),
        200,
        "a stock update based on an old version",
    )
    c.that(
        stale["applied"][0]["version"] == 3 and stale["applied"][0]["row"]["quantity"] == 7,
        "stock takes the last push, as the seed's UPDATE does (client_wins)",
        stale,
    )
    c.that(
        stale["applied"][0].get("conflict", {}).get("resolution") == "client_applied"
        and stale["applied"][0]["conflict"]["server_row"]["quantity"] != 7,
        "the applied write says it replaced a newer row, and which",
        stale,
    )

    c.section("atomic: false — each operation stands alone (beyond the seed)")
    loose = c.status(
        push(gw, device, [
            {"table": "sales", "action": "insert", "data": {"id": "A1", "total": 1}},
            {"table": "sales", "action": "insert", "data": {"id": "A2", "total": -1}},
            {"table": "users", "action": "insert", "data": {"id": "A3"}},
            {"table": "sales", "action": "insert", "data": {"id": "A4", "total": 2}},
        ], atomic=False),
        200,
        "a batch with two failing operations, not atomic",
    )
    c.that(loose["success"] is False and [a["key"] for a in loose["applied"]] == ["A1", "A4"]
           and [(e["index"], e["error"]["code"]) for e in loose["errors"]]
           == [(1, "validation_failed"), (2, "unknown_table")],
           "the good operations are written, each failure is listed with its index", loose)
    c.that({"A1", "A4"} <= set(rows_of(gw, device, "sales"))
           and "A2" not in rows_of(gw, device, "sales"), "A1 and A4 are stored, A2 is not")

    c.section("per-table push, one row by key, devices (beyond the seed)")
    own = c.status(
        gw.call("POST", "/tables/sales/push", token=device,
                body={"device_id": "pos-1", "operations": [
                    {"action": "insert", "data": {"id": "T1", "total": 3}}]}),
        200,
        "POST /tables/sales/push: the table is in the path",
    )
    c.that([(a["table"], a["key"], a["version"]) for a in own["applied"]] == [("sales", "T1", 1)],
           "the sale is written", own)
    one = c.status(gw.call("GET", "/tables/sales/rows/T1", token=device), 200,
                   "GET /tables/sales/rows/T1")
    c.that(one == {"id": "T1", "shop_id": None, "customer_id": None, "total": "3",
                   "created_at": None, "_version": 1}, "the row as pull shows it", one)
    c.error(gw.call("GET", "/tables/sales/rows/T404", token=device), 404, "row_not_found",
            "a key without a row")
    registered = c.status(
        gw.call("POST", "/sync/devices", token=device,
                body={"id": "pos-1-tablet", "name": "Tablet", "platform": "android",
                      "app_version": "2.0"}),
        201,
        "POST /sync/devices registers a device",
    )
    tablet = registered["token"]
    c.that(tablet.startswith("sgd_") and registered["device"]["device_id"] == "pos-1-tablet",
           "the device and its token", registered)
    c.that([d["device_id"] for d in c.status(gw.call("GET", "/sync/devices", token=device), 200,
                                             "GET /sync/devices")["devices"]] == ["pos-1-tablet"],
           "the user's devices are listed")
    c.that(c.status(gw.call("GET", "/sync/devices/pos-1-tablet", token=tablet), 200,
                    "the device reads its status with its own token")["sync_status"]
           in ("up_to_date", "pending", "stale", "offline"), "the device's status")
    c.error(push(gw, tablet, [{"table": "sales", "action": "delete", "data": {"id": "S404"}}],
                 device_id="pos-1"),
            403, "forbidden", "a device token pushing as another device_id")
    as_itself = c.status(
        push(gw, tablet, [{"table": "sales", "action": "delete", "data": {"id": "S404"}}],
             device_id="pos-1-tablet"),
        200,
        "the device token pushing as its own device_id",
    )
    c.that(as_itself["applied"][0]["version"] == 0, "applied (a missing row: nothing written)",
           as_itself)
    kiosk = {"device_id": "kiosk", "operations": [
        {"op_id": "kiosk:1", "table": "sales", "action": "insert",
         "data": {"id": "K1", "total": 1}}]}
    c.status(gw.call("POST", "/sync/push", body=kiosk), 200, "a push without a token, with op_id")
    anon = c.status(gw.call("POST", "/sync/push", body=kiosk), 200, "the same push again")
    c.that([a["replayed"] for a in anon["applied"]] == [True],
           "without a token the retry is matched by device_id and op_id alone", anon)

    c.section("the optional SHOP role: each shop's rows stay in the shop")
    mine = c.status(
        push(gw, till1, [
            {"op_id": "till:1", "table": "sales", "action": "insert",
             "data": {"id": "S1-secret", "customer_id": "C001", "total": 40}},
            {"table": "product_stock", "action": "insert",
             "data": {"id": "shop_01:P001", "product_id": "P001", "quantity": 9}},
            {"table": "item_sales", "action": "insert",
             "data": {"id": "S1-line", "sale_id": "S1-secret", "product_id": "P001",
                      "quantity": 1, "price": 40}},
        ], device_id="till"),
        200,
        "shop_01 records a sale and its stock",
    )
    c.that(
        mine["applied"][0]["row"]["shop_id"] == "shop_01",
        "a new row takes the till's shop",
        mine,
    )
    c.status(
        push(gw, till2, [{"table": "sales", "action": "insert",
                          "data": {"id": "S2", "total": 3}}]),
        200,
        "shop_02 records a sale",
    )
    c.that(sorted(rows_of(gw, till2, "sales")) == ["S2"], "shop_02 pulls only its sale")
    c.that(sorted(rows_of(gw, till1, "sales")) == ["S1-secret"], "shop_01 pulls only its sale")
    c.that(
        {"123", "S1-secret", "S2"} <= set(rows_of(gw, device, "sales")),
        "a DEVICE (the seed's view) sees every sale",
    )
    c.that(sorted(rows_of(gw, till1, "item_sales")) == ["S1-line"]
           and sorted(rows_of(gw, till2, "item_sales")) == [],
           "sale lines: shop_01 pulls its line, shop_02 none")
    c.that(sorted(rows_of(gw, till1, "product_stock")) == ["shop_01:P001"]
           and sorted(rows_of(gw, till2, "product_stock")) == [],
           "stock: shop_01 pulls its row, shop_02 none")
    c.that(
        sorted(rows_of(gw, till2, "products")) == ["P001", "P002", "P003"],
        "products are shared by every shop",
    )
    c.that(sorted(rows_of(gw, till2, "customers")) == ["C001"], "customers too")
    for path in ("/sync/changes?limit=1000", "/tables/sales/changes"):
        leak = gw.call("GET", path, token=till2)
        c.that(leak.status == 200 and b"S1-secret" not in leak.body, f"{path}: no shop_01 row",
               leak)
    everything = pull(gw, till2, limit=5000)
    c.that(b"S1-secret" not in everything.body and b"shop_01" not in everything.body,
           "a full pull of shop_02 shows nothing of shop_01", everything)
    c.error(gw.call("GET", "/tables/sales/rows/S1-secret", token=till2), 404, "row_not_found",
            "reading shop_01's sale by key")
    for action, data in (("update", {"id": "S1-secret", "total": 0}),
                         ("delete", {"id": "S1-secret"})):
        outside = push(gw, till2, [{"table": "sales", "action": action, "data": data}])
        answer = c.status(outside, 200, f"shop_02 sends an {action} of shop_01's sale")
        c.that(answer["applied"][0]["version"] == 0 and "row" not in answer["applied"][0]
               and b"C001" not in outside.body,
               "answered as a missing row (version 0): nothing of the sale is told", answer)
    c.error(
        push(gw, till2, [{"table": "sales", "action": "upsert",
                          "data": {"id": "S1-secret", "total": 0}}]),
        409,
        "key_taken",
        "taking shop_01's key",
    )
    c.error(
        push(gw, till2, [{"table": "sales", "action": "insert",
                          "data": {"id": "S3", "shop_id": "shop_01", "total": 1}}]),
        403,
        "forbidden",
        "writing a row into shop_01",
    )
    c.error(
        push(gw, till2, [{"table": "sales", "action": "update",
                          "data": {"id": "S2", "shop_id": "shop_01"}}]),
        403,
        "forbidden",
        "moving a row into shop_01",
    )
    c.error(
        push(gw, till2, [{"table": "products", "action": "update",
                          "data": {"id": "P001", "price": 0}}]),
        403,
        "forbidden",
        "a till may only read products",
    )
    answer = push(gw, till2, [{"op_id": "till:1", "table": "sales", "action": "insert",
                               "data": {"id": "S4", "total": 2}}], device_id="till")
    replay = c.status(answer, 200, "shop_02 sends shop_01's op_id and device id")
    c.that(
        replay["applied"][0]["replayed"] is False and replay["applied"][0]["key"] == "S4",
        "another user's op id is not replayed: the write is its own",
        replay,
    )
    c.that(b"S1-secret" not in answer.body, "nothing of shop_01's write in the answer", answer)
    c.that(rows_of(gw, device, "sales")["S1-secret"]["total"] == "40", "shop_01's sale untouched")
    summary = c.status(gw.call("GET", "/sync/status", token=till2), 200, "status of shop_02")
    c.that(summary["data_summary"]["tables"]["sales"]["rows"] == 2, "counts shop_02's sales only",
           summary)
    c.error(pull(gw, gw.token("x", "GUEST")), 403, "forbidden", "an undeclared role may do nothing")

    c.section("the pull limit is capped at 5000 rows, not ignored")
    # More customers than one page can hold, so that a cap, a default and no limit at all each
    # return another number of rows (the echoed `limit` alone could not tell them apart).
    for start in (0, 2600):
        c.status(push(gw, device, [
            {"table": "customers", "action": "upsert",
             "data": {"id": f"bulk-{i:05}", "name": f"Customer {i}"}}
            for i in range(start, start + 2600)]), 200, f"2,600 customers from {start}")
    huge = c.status(pull(gw, device, tables=["customers"], limit=100000), 200, "a huge limit")
    c.that(len(huge["data"]["customers"]) == 5000 and huge["has_more"] is True
           and huge["limit"] == 5000, "5,000 rows of 5,201 and the rest on the next page",
           {key: huge[key] for key in ("limit", "has_more")})
    default = c.status(pull(gw, device, tables=["customers"]), 200, "no limit")
    c.that(len(default["data"]["customers"]) == 1000 and default["has_more"] is True,
           "without a limit, 1,000 rows of 5,201 and the rest on the next page",
           {key: default[key] for key in ("limit", "has_more")})

    if backend == "postgres":
        database_down(gw, device, c)


def database_down(gw, device, c):
    """The seed's status failure, 'Database unavailable': the gateway's database is dropped
    under it (PostgreSQL only; an open SQLite file cannot be taken away like this)."""
    c.section("the database goes away: /ready answers 503, a push fails")
    url = gw.env["SYNCGATE_DATABASE__URL"]
    name = url.rsplit("/", 1)[1]
    psql = shutil.which("psql") or str(max(Path("/usr/lib/postgresql").glob("*/bin/psql")))
    subprocess.run([psql, e2e_lib.POSTGRES_ADMIN_URL, "-q", "-c",
                    f"DROP DATABASE {name} WITH (FORCE)"], check=True)
    c.error(gw.call("GET", "/ready"), 503, "database_unavailable", "GET /ready")
    failed = c.error(
        push(gw, device, [{"table": "sales", "action": "insert", "data": {"id": "9", "total": 1}}]),
        500,
        "internal",
        "a push (the seed's 'Sync failed')",
    )
    c.that("log" in failed["message"] and name not in failed["message"],
           "a generic message, nothing of the database", failed)
    c.that(c.status(gw.call("GET", "/health"), 200, "GET /health")["status"] == "ok",
           "the process itself still answers /health")


if __name__ == "__main__":
    e2e_lib.run("002-cloud-sync-api", scenario)
