#!/usr/bin/env python3
"""Seed 004 (Pinakes library sync) end to end: a real `syncgate serve` from this example's
config, driven through every endpoint of the seed under /api/v1 — report changes (push), changes
since a cursor (limit max 1000), ack, conflicts and their resolution, the device registry with
token regeneration, chunked upload sessions (create, status, chunk, complete, cancel) and
downloads with Range — with each user reaching only their own rows, devices, uploads and files;
then a second gateway whose upload sessions expire after 2 seconds.

    E2E_SYNCGATE_BIN=/work/helper-bin/syncgate python3 examples/004-library/e2e.py
"""

import datetime
import hashlib
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import e2e_lib  # noqa: E402

# e2e_lib has read SYNCGATE_BIN already, and hands the whole environment to the gateway and to
# `syncgate token`, which read every SYNCGATE_* variable as a config key: an unknown `bin` (or
# `config`) key would stop them.
for name in ("SYNCGATE_BIN", "SYNCGATE_CONFIG"):
    os.environ.pop(name, None)

EXAMPLE = Path(__file__).resolve().parent
API = "/api/v1/sync"
OCTETS = {"Content-Type": "application/octet-stream"}
# Every endpoint of the seed (../shared/seeds/004…), as the seed names it, under /api/v1/sync.
SEED_ENDPOINTS = [
    ("post", "/ack"), ("get", "/changes"), ("get", "/conflicts"), ("post", "/conflicts/{id}/resolve"),
    ("get", "/devices"), ("post", "/devices"), ("get", "/devices/{id}"), ("put", "/devices/{id}"),
    ("delete", "/devices/{id}"), ("post", "/devices/{id}/token"), ("get", "/download/{path}"),
    ("post", "/report"), ("post", "/upload"), ("get", "/upload/{id}"), ("delete", "/upload/{id}"),
    ("put", "/upload/{id}/chunks/{index}"), ("post", "/upload/{id}/complete"),
]
# The one the README lists as served under another path (see "Differences").
RENAMED = {"/download/{path}": "/download/{id}"}


def report(gw, token, device_id, operations):
    """The seed's POST /api/v1/sync/report: an alias of syncgate's push (config.toml)."""
    return gw.call("POST", f"{API}/report", token=token,
                   body={"device_id": device_id, "operations": operations})


def changes(gw, token, query=""):
    return gw.call("GET", f"{API}/changes{query}", token=token)


def item(title, **columns):
    return {"id": str(uuid.uuid4()), "title": title, **columns}


def scenario(backend, checks):
    e2e_lib.drive(EXAMPLE, backend, checks, run)
    # A second gateway whose upload sessions live 2 seconds (files.upload_expiry), to see one
    # expire.
    e2e_lib.drive(EXAMPLE, backend, checks, expiry,
                  env={"SYNCGATE_FILES__UPLOAD_EXPIRY": "2s"}, name="expiry")


def run(gw, c):
    alice = gw.token("alice", "USER")
    bob = gw.token("bob", "USER")
    admin = gw.token("root", "ADMIN")

    c.section("versioned paths and the OpenAPI document")
    document = c.status(gw.call("GET", "/openapi.json"), 200, "GET /openapi.json")
    missing = [f"{method.upper()} {path}" for method, path in SEED_ENDPOINTS
               if method not in document["paths"].get(API + RENAMED.get(path, path), {})]
    c.that(missing == [], "every endpoint of the seed is in the document with its method "
           "(/download/{path} as /download/{id})", missing)
    c.that(document["paths"][f"{API}/report"]["post"].get("deprecated") is True,
           "POST /report is a deprecated alias of POST /push", document["paths"][f"{API}/report"])
    c.that("get" in document["paths"][f"{API}/download/{{id}}"], "download is a GET", document)
    c.that(gw.call("GET", "/docs").status == 200, "the docs page is served")
    per_table = [f"/api/v1/tables/{table}/{path}" for table in ("media", "progress")
                 for path in ("push", "changes", "rows/{pk}")]
    c.that(all(path in document["paths"] for path in per_table),
           "each table's own paths are in the document", sorted(document["paths"]))
    unversioned = c.status(gw.call("GET", "/api/sync/changes?limit=1", token=alice), 200,
                           "the seed's unversioned GET /api/sync/changes")
    c.that("cursor" in unversioned, "answers as GET /api/v1/sync/changes", unversioned)
    c.that(all(f"/api/sync{path}" in document["paths"] for path in ("/changes", "/report",
                                                                   "/devices/{id}")),
           "the unversioned paths are in the document", sorted(document["paths"]))
    c.error(gw.call("GET", "/api/sync/changes"), 401, "unauthorized",
            "an unversioned path needs the same token")
    old_client = c.status(gw.call("POST", "/api/sync/report", token=gw.token("carol", "USER"), body={
        "device_id": "carol-old-client",
        "operations": [{"table": "media", "action": "insert", "data": item("Unversioned")}]}),
        200, "the seed's unversioned POST /api/sync/report")
    c.that(old_client["applied"][0]["version"] == 1, "the report is a push", old_client)
    some = str(uuid.uuid4())
    for method, path in (
        ("POST", "/push"), ("GET", "/changes"), ("POST", "/ack"), ("GET", "/conflicts"),
        ("POST", "/conflicts/1/resolve"), ("GET", "/devices"), ("POST", "/devices"),
        ("GET", "/devices/d"), ("PUT", "/devices/d"), ("DELETE", "/devices/d"),
        ("POST", "/devices/d/token"), ("GET", f"/download/{some}"), ("POST", "/upload"),
        ("GET", f"/upload/{some}"), ("DELETE", f"/upload/{some}"),
        ("PUT", f"/upload/{some}/chunks/0"), ("POST", f"/upload/{some}/complete"),
    ):
        c.error(gw.call(method, API + path), 401, "unauthorized",
                f"{method} {path} without a token")
    c.error(changes(gw, "not-a-jwt"), 401, "unauthorized", "changes with a bad token")

    c.section("devices: register, list, details, update")
    phone = c.status(
        gw.call("POST", f"{API}/devices", token=alice,
                body={"id": "alice-phone", "name": "Phone", "platform": "android",
                      "app_version": "0.9.0"}),
        201,
        "register the phone",
    )
    c.that(phone["token"].startswith("sgd_") and phone["device"]["device_id"] == "alice-phone",
           "the device and its token", phone)
    laptop = c.status(
        gw.call("POST", f"{API}/devices", token=alice,
                body={"name": "Laptop", "platform": "linux", "app_version": "0.9.0"}),
        201,
        "register the laptop with a generated id",
    )
    laptop_id = laptop["device"]["device_id"]
    c.that(len(laptop_id) == 36, "a generated UUID id", laptop)
    phone_token, laptop_token = phone["token"], laptop["token"]
    c.error(gw.call("POST", f"{API}/devices", token=alice,
                    body={"name": " ", "platform": "android", "app_version": "1"}),
            422, "validation_failed", "a blank device name")
    listed = c.status(gw.call("GET", f"{API}/devices", token=alice), 200, "list")
    c.that(sorted(d["device_id"] for d in listed["devices"]) == sorted(["alice-phone", laptop_id]),
           "alice's two devices", listed)
    detail = c.status(gw.call("GET", f"{API}/devices/alice-phone", token=phone_token), 200,
                      "details, with the device's own token")
    c.that((detail["name"], detail["device_type"], detail["version"])
           == ("Phone", "android", "0.9.0"), "the registered details", detail)
    c.that(b"sgd_" not in gw.call("GET", f"{API}/devices/alice-phone", token=alice).body
           and b"sgd_" not in gw.call("GET", f"{API}/devices", token=alice).body,
           "the token is shown once: neither the device nor the list has it")
    updated = c.status(gw.call("PUT", f"{API}/devices/alice-phone", token=alice,
                               body={"name": "Pixel", "app_version": "1.0.0"}), 200, "update")
    c.that((updated["name"], updated["version"], updated["device_type"])
           == ("Pixel", "1.0.0", "android"), "only the sent fields change", updated)
    c.error(gw.call("GET", f"{API}/devices/nope", token=alice), 404, "row_not_found",
            "an unknown device")

    c.section("report (push) and changes since a cursor")
    dune = item("Dune", creator="Frank Herbert", tags=["sf"])
    emma = item("Emma", creator="Jane Austen")
    pushed = c.status(
        report(gw, phone_token, "alice-phone", [
            {"op_id": "phone:1", "table": "media", "action": "insert", "data": dune},
            {"op_id": "phone:2", "table": "media", "action": "insert", "data": emma},
        ]),
        200,
        "the phone reports two items",
    )
    c.that(set(pushed) == {"success", "applied", "conflicts", "errors", "cursor"},
           "the answer: success, applied, conflicts, errors, cursor", pushed)
    c.that([a["row"]["owner"] for a in pushed["applied"]] == ["alice", "alice"]
           and pushed["applied"][0]["row"]["media_type"] == "book",
           "owned by alice, defaults filled", pushed)
    again = c.status(
        report(gw, phone_token, "alice-phone", [
            {"op_id": "phone:1", "table": "media", "action": "insert", "data": dune}]),
        200,
        "the same report after a lost answer",
    )
    c.that(again["applied"][0]["replayed"] is True and again["applied"][0]["version"] == 1,
           "replayed, not written twice", again)
    c.error(report(gw, phone_token, laptop_id, [{"table": "media", "action": "insert",
                                                 "data": item("x")}]),
            403, "forbidden", "the phone's token reporting as the laptop")
    c.error(report(gw, phone_token, "alice-phone", [{"table": "media", "action": "insert",
                                                     "data": item("x", rating=9)}]),
            422, "validation_failed", "a rating above 5")
    stray = item("x")
    unknown = c.error(report(gw, phone_token, "alice-phone", [
        {"table": "media", "action": "insert", "data": stray},
        {"table": "books", "action": "insert", "data": item("x")}]),
        404, "unknown_table", "a table the schema does not have")
    c.that(unknown["details"]["available_tables"] == ["media", "progress"]
           and unknown["details"]["index"] == 1, "names the operation and the tables", unknown)
    c.error(gw.call("GET", f"/api/v1/tables/media/rows/{stray['id']}", token=alice), 404,
            "row_not_found", "the valid insert before it was not written either")
    page = c.status(changes(gw, laptop_token, "?limit=1"), 200, "first page of 1")
    c.that(len(page["changes"]) == 1 and page["has_more"] is True
           and page["changes"][0]["row"]["title"] == "Dune", "Dune, more to come", page)
    c.that(set(page) == {"changes", "cursor", "has_more"}
           and set(page["changes"][0]) == {"seq", "table", "key", "version", "deleted", "row"},
           "the feed's shape", page)
    rest = c.status(changes(gw, laptop_token, f"?limit=1&cursor={page['cursor']}"), 200, "next")
    c.that([ch["row"]["title"] for ch in rest["changes"]] == ["Emma"] and rest["has_more"] is False,
           "Emma, the end", rest)
    c.error(changes(gw, laptop_token, "?cursor=abc"), 422, "validation_failed", "a bad cursor")
    c.error(changes(gw, laptop_token, "?limit=0"), 400, "bad_request", "limit 0")
    positions = [
        {"table": "progress", "action": "insert",
         "data": {"id": str(uuid.uuid4()), "media_id": dune["id"], "position": i / 1000,
                  "updated_at": "2026-01-01T00:00:00Z"}}
        for i in range(1001)
    ]
    c.status(report(gw, alice, "bulk", positions), 200, "1001 positions in one report")
    big = c.status(changes(gw, alice, f"?limit=5000&cursor={rest['cursor']}"), 200, "limit 5000")
    c.that(len(big["changes"]) == 1000 and big["has_more"] is True,
           "a page holds at most 1000 changes", (len(big["changes"]), big["has_more"]))
    tail = c.status(changes(gw, alice, f"?limit=1000&cursor={big['cursor']}"), 200, "the rest")
    c.that(len(tail["changes"]) == 1 and tail["has_more"] is False, "the 1001st", tail)

    c.section("changes: deletions, tables=, wait= (long-poll); report with atomic: false")
    dave = gw.token("dave", "USER")
    pages = item("Pages")
    c.status(report(gw, dave, "dave-tablet", [
        {"table": "media", "action": "insert", "data": pages},
        {"table": "progress", "action": "insert",
         "data": {"id": str(uuid.uuid4()), "media_id": pages["id"], "position": 0.1,
                  "updated_at": "2026-01-01T00:00:00Z"}}]), 200, "dave's item and position")
    both = c.status(changes(gw, dave), 200, "dave's feed")
    only = c.status(changes(gw, dave, "?tables=progress"), 200, "dave's feed of progress only")
    c.that([ch["table"] for ch in both["changes"]] == ["media", "progress"]
           and [ch["table"] for ch in only["changes"]] == ["progress"],
           "tables= keeps the feed to those tables", only)
    c.status(report(gw, dave, "dave-tablet", [
        {"table": "media", "action": "delete", "data": {"id": pages["id"]}}]), 200, "delete it")
    gone = c.status(changes(gw, dave, f"?cursor={both['cursor']}"), 200, "the feed since")
    c.that([(ch["key"], ch["version"], ch["deleted"]) for ch in gone["changes"]]
           == [(pages["id"], 2, True)], "the deletion comes as a tombstone", gone)
    waited = {}

    def long_poll():
        began = time.monotonic()
        waited["answer"] = changes(gw, dave, f"?cursor={gone['cursor']}&wait=20")
        waited["seconds"] = time.monotonic() - began

    poll = threading.Thread(target=long_poll)
    poll.start()
    time.sleep(0.5)
    later = item("Later")
    c.status(report(gw, dave, "dave-tablet", [
        {"table": "media", "action": "insert", "data": later}]), 200, "an item while it waits")
    poll.join(30)
    answer = waited.get("answer")
    c.that(answer is not None and answer.status == 200
           and [ch["key"] for ch in answer.json["changes"]] == [later["id"]]
           and waited["seconds"] < 10,
           "wait=20 waits for the change, then answers it at once", (answer, waited.get("seconds")))
    loose = gw.call("POST", f"{API}/report", token=dave, body={
        "device_id": "dave-tablet", "atomic": False, "operations": [
            {"table": "media", "action": "insert", "data": item("Fine")},
            {"table": "media", "action": "insert", "data": item("Bad", rating=9)}]})
    c.that(loose.status == 200 and [a["row"]["title"] for a in loose.json["applied"]] == ["Fine"]
           and [(e["index"], e["error"]["code"]) for e in loose.json["errors"]]
           == [(1, "validation_failed")], "atomic: false writes the good one, lists the bad",
           loose)

    c.section("ack")
    acked = c.status(gw.call("POST", f"{API}/ack", token=laptop_token,
                             body={"device_id": laptop_id, "cursor": rest["cursor"]}), 200, "ack")
    c.that(acked["acked_cursor"] == rest["cursor"] and acked["pending"] == 1001
           and acked["sync_status"] == "pending",
           "acknowledged up to Emma; the positions still pending", acked)
    c.status(gw.call("POST", f"{API}/ack", token=laptop_token,
                     body={"device_id": laptop_id, "cursor": tail["cursor"]}), 200, "ack all")
    c.that(c.status(gw.call("GET", f"{API}/devices/{laptop_id}", token=alice), 200, "laptop")
           ["sync_status"] == "up_to_date", "the laptop is up to date")
    c.error(gw.call("POST", f"{API}/ack", token=laptop_token,
                    body={"device_id": laptop_id, "cursor": "99999999"}),
            422, "validation_failed", "an ack beyond the head")
    c.error(gw.call("POST", f"{API}/ack", token=laptop_token, body={"device_id": laptop_id}),
            400, "bad_request", "an ack without a cursor")
    c.error(gw.call("POST", f"{API}/ack", token=alice, body={"device_id": "nope", "cursor": "1"}),
            404, "row_not_found", "an ack of an unknown device")

    c.section("conflicts: list and resolve (use_server, use_local, merged)")
    queued = []
    for n, (phone_change, laptop_change) in enumerate([
        ({"title": "Dune (1965)"}, {"rating": 5}),
        ({"creator": "J. Austen"}, {"creator": "Jane Austen (1775-1817)"}),
        ({"tags": ["sf", "classic"]}, {"favorite": True}),
    ]):
        target = dune if n != 1 else emma
        version = {0: 1, 1: 1, 2: 2}[n]
        c.status(report(gw, phone_token, "alice-phone", [
            {"table": "media", "action": "update", "base_version": version,
             "data": {"id": target["id"], **phone_change}}]), 200, f"phone edit {n}")
        clash = c.status(report(gw, laptop_token, laptop_id, [
            {"table": "media", "action": "update", "base_version": version,
             "data": {"id": target["id"], **laptop_change}}]), 200, f"laptop edit {n}")
        c.that(clash["applied"] == []
               and clash["conflicts"][0]["conflict"]["resolution"] == "queued",
               "the laptop's stale edit is queued", clash)
        queued.append(clash["conflicts"][0]["conflict"]["conflict_id"])
    open_ = c.status(gw.call("GET", f"{API}/conflicts", token=alice), 200, "list conflicts")
    c.that([x["id"] for x in open_["conflicts"]] == queued, "three open, oldest first", open_)
    first = open_["conflicts"][0]
    c.that((first["table"], first["key"], first["device_id"], first["server_version"],
            first["base_version"], first["server_row"]["title"], first["client_row"]["rating"])
           == ("media", dune["id"], laptop_id, 2, 1, "Dune (1965)", 5),
           "both rows, both versions and the device", first)
    c.that(set(first) == {"id", "table", "key", "server_row", "client_row", "server_version",
                          "base_version", "device_id", "user", "created_at"}
           and first["user"] == "alice", "a conflict's fields", first)
    kept = c.status(gw.call("POST", f"{API}/conflicts/{queued[0]}/resolve", token=alice,
                            body={"resolution": "use_server"}), 200, "keep the server's")
    c.that((kept["resolution"], kept["row"]["title"], kept["row"]["rating"])
           == ("use_server", "Dune (1965)", None), "the phone's edit stays", kept)
    c.that(set(kept) == {"id", "resolution", "table", "key", "version", "deleted", "row"},
           "the resolution's fields", kept)
    local = c.status(gw.call("POST", f"{API}/conflicts/{queued[1]}/resolve", token=alice,
                             body={"resolution": "use_local"}), 200, "take the laptop's")
    c.that(local["row"]["creator"] == "Jane Austen (1775-1817)" and local["version"] == 3,
           "the laptop's creator, as a new version", local)
    merged = c.status(gw.call("POST", f"{API}/conflicts/{queued[2]}/resolve", token=alice,
                              body={"resolution": "merged",
                                    "data": {"tags": ["sf", "classic"], "favorite": True}}),
                      200, "merge both")
    c.that((merged["row"]["tags"], merged["row"]["favorite"]) == (["sf", "classic"], True),
           "both edits", merged)
    c.error(gw.call("POST", f"{API}/conflicts/{queued[0]}/resolve", token=alice,
                    body={"resolution": "use_local"}), 409, "already_resolved", "resolve twice")
    c.error(gw.call("POST", f"{API}/conflicts/{queued[0]}/resolve", token=alice,
                    body={"resolution": "keep_both"}), 400, "bad_request", "an unknown resolution")
    c.error(gw.call("POST", f"{API}/conflicts/{queued[0]}/resolve", token=alice,
                    body={"resolution": "merged"}), 422, "validation_failed", "merged without data")
    c.error(gw.call("POST", f"{API}/conflicts/999999/resolve", token=alice,
                    body={"resolution": "use_local"}), 404, "row_not_found", "an unknown conflict")
    c.that(c.status(gw.call("GET", f"{API}/conflicts", token=alice), 200, "list")["conflicts"]
           == [],
           "none left open")
    feed = c.status(changes(gw, laptop_token, f"?cursor={tail['cursor']}"), 200, "laptop's feed")
    c.that({ch["row"]["title"]: ch["version"] for ch in feed["changes"]}
           == {"Dune (1965)": 5, "Emma": 3}, "the resolutions reach the other device", feed)

    c.section("positions: the newest write wins")
    pos = {"id": str(uuid.uuid4()), "media_id": emma["id"], "position": 0.5,
           "updated_at": "2026-02-01T10:00:00Z"}
    c.status(report(gw, phone_token, "alice-phone", [
        {"table": "progress", "action": "insert", "data": pos}]), 200, "the phone at 50%")
    older = c.status(report(gw, laptop_token, laptop_id, [
        {"table": "progress", "action": "update", "base_version": 0,
         "data": {"id": pos["id"], "position": 0.2, "updated_at": "2026-02-01T09:00:00Z"}}]),
        200, "the laptop's older 20%")
    c.that(older["applied"] == [] and older["conflicts"][0]["row"]["position"] == 0.5,
           "the older position loses", older)
    newer = c.status(report(gw, laptop_token, laptop_id, [
        {"table": "progress", "action": "update", "base_version": 0,
         "data": {"id": pos["id"], "position": 0.7, "updated_at": "2026-02-01T11:00:00Z"}}]),
        200, "the laptop's newer 70%")
    c.that(newer["applied"][0]["row"]["position"] == 0.7, "the newer position wins", newer)
    c.that(newer["applied"][0].get("conflict", {}).get("resolution") == "client_applied",
           "and the answer says it overrode a position written since", newer)

    c.section("chunked upload: create, status, chunks in any order, complete")
    content = b"%PDF-1.7\n" + os.urandom(250_000)
    size, sha = len(content), hashlib.sha256(content).hexdigest()
    chunk = 100_000

    def new_session(token, row, body=None):
        return gw.call("POST", f"{API}/upload", token=token, body=body or {
            "table": "media", "row": row, "field": "file", "size": size,
            "chunk_size": chunk, "sha256": sha})

    def put(token, session, index, data):
        return gw.call("PUT", f"{API}/upload/{session}/chunks/{index}", token=token, data=data,
                       headers=OCTETS)

    created = c.status(new_session(alice, dune["id"]), 201, "create a session")
    up = created["id"]
    c.that((created["chunks"], created["received"], created["missing"]) == (3, [], [0, 1, 2]),
           "three chunks, all missing", created)
    c.that(set(created) == {"id", "table", "key", "field", "size", "chunk_size", "chunks",
                            "received", "missing", "expires_at"}, "a session's fields", created)
    lifetime = datetime.datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00")) \
        - datetime.datetime.now(datetime.timezone.utc)
    c.that(abs(lifetime.total_seconds() - 24 * 3600) < 600,
           "a session expires in 24 h (files.upload_expiry's default)", created["expires_at"])
    after = c.status(put(alice, up, 2, content[200_000:]), 200, "the last chunk first")
    c.that((after["received"], after["missing"]) == ([2], [0, 1]), "chunk 2 received", after)
    c.error(put(alice, up, 1, content[100_000:100_010]), 400, "bad_request",
            "a chunk of wrong size")
    c.error(put(alice, up, 3, content[:10]), 400, "bad_request", "a chunk beyond the last")
    c.error(gw.call("POST", f"{API}/upload/{up}/complete", token=alice), 409, "conflict",
            "complete with chunks missing")
    c.status(put(alice, up, 0, content[:100_000]), 200, "chunk 0")
    c.status(put(alice, up, 1, bytes(100_000)), 200, "a corrupted chunk 1")
    c.error(gw.call("POST", f"{API}/upload/{up}/complete", token=alice), 400, "bad_request",
            "complete with a SHA-256 mismatch")
    again = c.status(put(alice, up, 1, content[100_000:200_000]), 200, "chunk 1 again")
    status = c.status(gw.call("GET", f"{API}/upload/{up}", token=alice), 200, "session status")
    c.that((status["received"], status["missing"], status["size"]) == ([0, 1, 2], [], size)
           and again["received"] == [0, 1, 2], "every chunk there", status)
    done = c.status(gw.call("POST", f"{API}/upload/{up}/complete", token=alice), 201, "complete")
    att = done["attachment_id"]
    c.that((done["media_type"], done["size"], done["sha256"], done["row"]["file"], done["version"])
           == ("application/pdf", size, sha, att, 6), "the file is attached as a new version", done)
    c.that(set(done) == {"attachment_id", "table", "key", "field", "media_type", "size", "sha256",
                         "version", "row"}, "the completed upload's fields", done)
    c.error(gw.call("GET", f"{API}/upload/{up}", token=alice), 404, "not_found",
            "a completed session is gone")
    c.error(put(alice, up, 0, content[:100_000]), 404, "not_found",
            "a chunk sent to a completed session")
    seen = c.status(changes(gw, laptop_token, f"?cursor={feed['cursor']}&limit=1000"), 200, "feed")
    c.that(any(ch["row"].get("file") == att for ch in seen["changes"]),
           "the laptop learns of the file", seen)

    c.section("download with Range, ETag and If-None-Match")
    whole = gw.call("GET", f"{API}/download/{att}", token=laptop_token)
    c.that(whole.status == 200 and whole.body == content, "the whole file", whole.status)
    c.that((whole.headers["Content-Type"], whole.headers["ETag"], whole.headers["Accept-Ranges"],
            whole.headers["Content-Length"]) == ("application/pdf", f'"{sha}"', "bytes", str(size)),
           "type, ETag, ranges and length", dict(whole.headers))
    for rng, start, end in (("bytes=0-99", 0, 99), ("bytes=249000-", 249_000, size - 1),
                            ("bytes=-10", size - 10, size - 1),
                            ("bytes=100-999999", 100, size - 1)):
        part = gw.call("GET", f"{API}/download/{att}", token=laptop_token, headers={"Range": rng})
        c.that(part.status == 206 and part.body == content[start:end + 1]
               and part.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
               and part.headers["Content-Type"] == "application/pdf"
               and part.headers["ETag"] == f'"{sha}"'
               and part.headers["Content-Length"] == str(end + 1 - start),
               f"{rng}: 206 with those bytes", (part.status, dict(part.headers)))
    beyond = gw.call("GET", f"{API}/download/{att}", token=laptop_token,
                     headers={"Range": f"bytes={size}-"})
    c.that(beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{size}",
           "a range past the end: 416", (beyond.status, dict(beyond.headers)))
    cached = gw.call("GET", f"{API}/download/{att}", token=laptop_token,
                     headers={"If-None-Match": f'"{sha}"'})
    c.that(cached.status == 304 and cached.body == b"", "unchanged: 304", cached.status)
    c.error(gw.call("GET", f"{API}/download/{uuid.uuid4()}", token=alice), 404, "not_found",
            "an unknown file")

    c.section("cancel, limits and types")
    spare = c.status(new_session(alice, emma["id"]), 201, "another session")["id"]
    c.status(put(alice, spare, 0, content[:100_000]), 200, "one chunk")
    cancelled = gw.call("DELETE", f"{API}/upload/{spare}", token=alice)
    c.that(cancelled.status == 204 and cancelled.body == b"", "cancelled: 204", cancelled)
    c.error(gw.call("GET", f"{API}/upload/{spare}", token=alice), 404, "not_found", "status after")
    c.error(put(alice, spare, 1, content[100_000:200_000]), 404, "not_found", "a chunk after")
    c.error(gw.call("POST", f"{API}/upload/{spare}/complete", token=alice), 404, "not_found",
            "complete after")
    c.error(new_session(alice, emma["id"], {"table": "media", "row": emma["id"], "field": "file",
                                            "size": 200_000_000, "chunk_size": chunk,
                                            "sha256": sha}),
            413, "file_too_large", "a file above the column's max_size")
    c.error(new_session(alice, emma["id"], {"table": "media", "row": emma["id"], "field": "title",
                                            "size": size, "chunk_size": chunk, "sha256": sha}),
            400, "bad_request", "a column that is not a file column")
    c.error(new_session(alice, str(uuid.uuid4())), 404, "row_not_found",
            "a row that does not exist")
    c.error(new_session(alice, emma["id"], {"table": "media", "row": emma["id"], "field": "file",
                                            "size": size, "chunk_size": 17 * 1024 * 1024,
                                            "sha256": sha}),
            400, "bad_request", "a chunk size above 16 MiB")
    c.error(new_session(alice, emma["id"], {"table": "media", "row": emma["id"], "field": "file",
                                            "size": size, "chunk_size": 0, "sha256": sha}),
            400, "bad_request", "a chunk size of 0")
    mib16 = 16 * 1024 * 1024
    largest = c.status(new_session(alice, emma["id"], {
        "table": "media", "row": emma["id"], "field": "file", "size": mib16 + 1,
        "chunk_size": mib16, "sha256": sha}), 201, "a session of 16 MiB chunks")
    try:
        sent = put(alice, largest["id"], 0, bytes(mib16))
    except OSError as error:  # a smaller body limit may close the connection mid-request
        sent = error
    c.that(getattr(sent, "status", None) == 200 and sent.json["received"] == [0],
           "a 16 MiB chunk fits in one request (server.max_body_bytes)", sent)
    c.that(gw.call("DELETE", f"{API}/upload/{largest['id']}", token=alice).status == 204,
           "that session cancelled")
    elf = b"\x7fELF\x02\x01\x01" + bytes(200)
    bad = c.status(new_session(alice, emma["id"], {
        "table": "media", "row": emma["id"], "field": "file", "size": len(elf),
        "chunk_size": 1024, "sha256": hashlib.sha256(elf).hexdigest()}), 201, "an executable")
    c.status(put(alice, bad["id"], 0, elf), 200, "its one chunk")
    c.error(gw.call("POST", f"{API}/upload/{bad['id']}/complete", token=alice), 415,
            "unsupported_media_type", "an executable is not a library file")
    c.that(c.status(gw.call("GET", f"/api/v1/tables/media/rows/{emma['id']}", token=alice), 200,
                    "Emma")["file"] is None, "nothing attached to Emma")

    c.section("another user reaches nothing of alice's")
    bob_phone = c.status(gw.call("POST", f"{API}/devices", token=bob,
                                 body={"id": "bob-phone", "name": "Phone", "platform": "ios",
                                       "app_version": "1"}), 201, "bob registers")["token"]
    c.status(report(gw, bob_phone, "bob-phone", [
        {"table": "media", "action": "insert", "data": item("Bob's book")}]), 200, "bob's book")
    conflict = c.status(report(gw, laptop_token, laptop_id, [
        {"table": "media", "action": "update", "base_version": 1,
         "data": {"id": emma["id"], "rating": 2}}]), 200, "alice has an open conflict")
    open_id = conflict["conflicts"][0]["conflict"]["conflict_id"]
    theirs = gw.call("GET", f"{API}/changes?limit=1000", token=bob)
    c.that(theirs.status == 200 and [ch["row"]["title"] for ch in theirs.json["changes"]]
           == ["Bob's book"] and b"alice" not in theirs.body, "bob's feed: his book only", theirs)
    c.that(c.status(gw.call("GET", f"{API}/conflicts", token=bob), 200, "bob's conflicts")
           ["conflicts"] == [], "bob sees no conflict")
    taken = c.error(gw.call("POST", f"{API}/devices", token=bob,
                            body={"id": "alice-phone", "name": "x", "platform": "ios",
                                  "app_version": "1"}),
                    409, "key_taken", "bob registering alice's device id")
    c.that("Pixel" not in taken["message"] and "alice" not in taken["message"].replace(
        "alice-phone", ""), "the refusal tells nothing but that the id is taken", taken)
    c.that([d["device_id"] for d in c.status(gw.call("GET", f"{API}/devices", token=bob), 200,
                                            "bob's devices")["devices"]] == ["bob-phone"],
           "bob lists his device only")
    for method, path, body in (
        ("GET", f"{API}/devices/alice-phone", None),
        ("PUT", f"{API}/devices/alice-phone", {"name": "mine"}),
        ("POST", f"{API}/devices/alice-phone/token", None),
        ("DELETE", f"{API}/devices/alice-phone", None),
        ("POST", f"{API}/ack", {"device_id": "alice-phone", "cursor": "1"}),
        ("POST", f"{API}/conflicts/{open_id}/resolve", {"resolution": "use_local"}),
        ("GET", f"{API}/download/{att}", None),
        ("GET", f"/api/v1/tables/media/rows/{dune['id']}", None),
        ("POST", f"{API}/upload", {"table": "media", "row": dune["id"], "field": "file",
                                   "size": size, "chunk_size": chunk, "sha256": sha}),
    ):
        answer = gw.call(method, path, token=bob_phone, body=body)
        c.that(answer.status == 404 and b"Dune" not in answer.body
               and sha.encode() not in answer.body,
               f"bob: {method} {path} is not found", answer)
    alices = c.status(new_session(alice, dune["id"]), 201, "alice starts an upload")["id"]
    for method, path, data in (("GET", f"{API}/upload/{alices}", None),
                               ("PUT", f"{API}/upload/{alices}/chunks/0", content[:chunk]),
                               ("POST", f"{API}/upload/{alices}/complete", None),
                               ("DELETE", f"{API}/upload/{alices}", None)):
        answer = gw.call(method, path, token=bob, data=data, headers=OCTETS if data else None)
        c.that(answer.status == 404, f"bob: {method} alice's upload session", answer)
    c.that(c.status(gw.call("GET", f"{API}/upload/{alices}", token=alice), 200, "alice's session")
           ["received"] == [], "bob's chunk did not land in alice's session")
    c.error(report(gw, bob_phone, "bob-phone", [{"table": "media", "action": "update",
                                                 "data": {"id": dune["id"], "title": "mine"}}]),
            404, "row_not_found", "bob updating alice's item")
    c.error(report(gw, bob_phone, "bob-phone", [{"table": "media", "action": "delete",
                                                 "data": {"id": dune["id"]}}]),
            404, "row_not_found", "bob deleting alice's item")
    c.error(report(gw, bob_phone, "bob-phone", [{"table": "media", "action": "upsert",
                                                 "data": {"id": dune["id"], "title": "mine"}}]),
            409, "key_taken", "bob taking alice's key")
    c.error(report(gw, bob_phone, "bob-phone", [{"table": "media", "action": "insert",
                                                 "data": item("gift", owner="alice")}]),
            403, "forbidden", "bob writing into alice's library")
    replay = gw.call("POST", f"{API}/push", token=bob,
                     body={"device_id": "alice-phone", "operations": [
                         {"op_id": "phone:1", "table": "media", "action": "insert",
                          "data": item("Bob's second")}]})
    c.that(replay.status == 200 and replay.json["applied"][0]["replayed"] is False
           and b"Dune" not in replay.body, "alice's op id is not replayed for bob", replay)
    c.that(c.status(gw.call("GET", f"/api/v1/tables/media/rows/{dune['id']}", token=alice), 200,
                    "alice's Dune")["title"] == "Dune (1965)", "alice's item untouched")
    c.that(c.status(gw.call("GET", f"{API}/devices/alice-phone", token=alice), 200, "phone")
           ["name"] == "Pixel", "alice's device untouched")
    c.that(len(c.status(gw.call("GET", f"{API}/conflicts", token=alice), 200, "alice's conflicts")
               ["conflicts"]) == 1, "alice's conflict still open")

    c.section("an ADMIN reaches every library and device")
    everyone = c.status(gw.call("GET", f"{API}/devices", token=admin), 200, "all devices")
    c.that(sorted(d["device_id"] for d in everyone["devices"])
           == sorted(["alice-phone", laptop_id, "bob-phone"]), "every user's devices", everyone)
    c.that(c.status(gw.call("GET", f"/api/v1/tables/media/rows/{dune['id']}", token=admin), 200,
                    "alice's item")["owner"] == "alice", "the admin reads alice's item")
    c.that(gw.call("GET", f"{API}/download/{att}", token=admin,
                   headers={"Range": "bytes=0-8"}).body == b"%PDF-1.7\n", "and her file")

    c.section("token regeneration and deletion")
    fresh = c.status(gw.call("POST", f"{API}/devices/alice-phone/token", token=alice), 200,
                     "regenerate")
    c.that(fresh["device_id"] == "alice-phone" and fresh["token"].startswith("sgd_")
           and fresh["token"] != phone_token, "a new token", fresh)
    c.error(changes(gw, phone_token), 401, "unauthorized", "the old token stops at once")
    c.status(changes(gw, fresh["token"], "?limit=1"), 200, "the new token works")
    gone = gw.call("DELETE", f"{API}/devices/alice-phone", token=alice)
    c.that(gone.status == 204, "deleted: 204", gone)
    c.error(changes(gw, fresh["token"]), 401, "unauthorized", "a deleted device's token")
    c.error(gw.call("GET", f"{API}/devices/alice-phone", token=alice), 404, "row_not_found",
            "the device is gone")


def expiry(gw, c):
    """An upload session that is not completed within files.upload_expiry is gone."""
    c.section("an upload session expires (files.upload_expiry = 2 s on this gateway)")
    erin = gw.token("erin", "USER")
    book = item("Short-lived")
    c.status(report(gw, erin, "erin-phone", [{"table": "media", "action": "insert",
                                              "data": book}]), 200, "erin's item")
    data = b"%PDF-1.7\n" + bytes(100)
    session = c.status(gw.call("POST", f"{API}/upload", token=erin, body={
        "table": "media", "row": book["id"], "field": "file", "size": len(data),
        "chunk_size": len(data), "sha256": hashlib.sha256(data).hexdigest()}), 201,
        "a session")["id"]
    c.status(gw.call("GET", f"{API}/upload/{session}", token=erin), 200, "the session at first")
    time.sleep(2.5)
    c.error(gw.call("GET", f"{API}/upload/{session}", token=erin), 404, "not_found",
            "the session after 2.5 s")
    c.error(gw.call("PUT", f"{API}/upload/{session}/chunks/0", token=erin, data=data,
                    headers=OCTETS), 404, "not_found", "a chunk after it expired")


if __name__ == "__main__":
    e2e_lib.run("004-library", scenario)
