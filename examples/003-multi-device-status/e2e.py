#!/usr/bin/env python3
"""Seed 003 (RegardingWork multi-device sync status) end to end: a real `syncgate serve` from
this example's config, driven through every state the seed's GET /api/sync/status describes —
overall offline / healthy / delayed / conflicts, devices offline / pending / up_to_date / stale,
lag, pending counts, data summary, recommendations, `include_devices`, `check_conflicts`,
`last_hours` — and the related endpoints (submit sessions, update preferences, user data), with
every user seeing only their own devices and rows.

    E2E_SYNCGATE_BIN=/work/helper-bin/syncgate python3 examples/003-multi-device-status/e2e.py
"""

import os
import re
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import e2e_lib  # noqa: E402

# e2e_lib has read SYNCGATE_BIN already, and hands the whole environment to the gateway and to
# `syncgate token`, which read every SYNCGATE_* variable as a config key: an unknown `bin` (or
# `config`) key would stop them.
for name in ("SYNCGATE_BIN", "SYNCGATE_CONFIG"):
    os.environ.pop(name, None)

EXAMPLE = Path(__file__).resolve().parent
MAC, WEB, WIN = "mac-app-v1.2.3", "web-chrome-desktop", "windows-app-v1.1.0"
# Timestamps as the status answers them: UTC to the millisecond, `Z` (a whole second is written
# without the fraction).
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
DEVICES = {
    MAC: ("MacBook", "mac_app", "1.2.3"),
    WEB: ("Chrome on the desktop", "web_timer", "web-2.1.0"),
    WIN: ("Office PC", "windows_app", "1.1.0"),
}


def status(gw, token, query=""):
    return gw.call("GET", "/api/sync/status" + query, token=token)


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def by_device(answer):
    return {d["device_id"]: d for d in answer["devices"]}


def submit(gw, token, device_id, operations, table="sessions"):
    """The seed's POST /api/pomodoro/submit and PUT /api/user/preferences: a push to one table."""
    return gw.call(
        "POST",
        f"/api/tables/{table}/push",
        token=token,
        body={"device_id": device_id, "operations": operations},
    )


def session(started, **columns):
    """A finished 25-minute focus session from `started` (ISO 8601, UTC)."""
    start = datetime.fromisoformat(started.replace("Z", "+00:00"))
    ended = (start + timedelta(minutes=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": str(uuid.uuid4()), "device_type": "mac_app", "started_at": started,
            "ended_at": ended, "duration_minutes": 25, **columns}


def ack(gw, token, device_id, cursor, pending_upload=None):
    body = {"device_id": device_id, "cursor": cursor}
    if pending_upload is not None:
        body["pending_upload"] = pending_upload
    return gw.call("POST", "/api/sync/ack", token=token, body=body)


def head(gw, token):
    """The cursor at the end of the caller's changes feed."""
    cursor = ""
    while True:
        page = gw.call("GET", f"/api/sync/changes?limit=1000&cursor={cursor}", token=token).json
        cursor = page["cursor"]
        if not page["has_more"]:
            return cursor


def scenario(backend, checks):
    # stale_after 2 s instead of 1 h, so that a device falls behind within the test.
    e2e_lib.drive(EXAMPLE, backend, checks, run, env={"SYNCGATE_DEVICES__STALE_AFTER": "2s"})
    # offline_after 1 s instead of 24 h, so that a device is "not seen recently" within the test.
    e2e_lib.drive(
        EXAMPLE, backend, checks, run_offline,
        env={"SYNCGATE_DEVICES__OFFLINE_AFTER": "1s"}, name="offline",
    )


def run(gw, c):
    alice = gw.token("alice", "USER")
    bob = gw.token("bob", "USER")

    c.section("GET /health; the seed's GET /api/health is not under the prefix")
    health = c.status(gw.call("GET", "/health"), 200, "GET /health")
    c.that(health["status"] == "ok" and {"version", "schema", "jobs"} <= set(health),
           "health ok, with version, schema and jobs", health)
    c.error(gw.call("GET", "/api/health"), 404, "not_found", "GET /api/health")
    refused = c.error(status(gw, None), 401, "unauthorized", "status without a token")
    c.that(set(refused) == {"code", "message", "details"}, "an error's code, message, details",
           refused)
    for method, path in (("POST", "/api/pomodoro/submit"), ("PUT", "/api/user/preferences"),
                         ("GET", "/api/user/data"), ("GET", "/api/analytics/tracking"),
                         ("POST", "/api/login")):
        c.error(gw.call(method, path, token=alice, body={}), 404, "not_found",
                f"the seed's {method} {path} is not served")
    forged = alice.rsplit(".", 1)[0] + "." + bob.rsplit(".", 1)[1]
    c.error(status(gw, forged), 401, "unauthorized", "alice's claims under bob's signature")

    c.section("a user with no devices: offline")
    empty = c.status(status(gw, alice), 200, "status of a new user")
    c.that(empty["sync_status"] == "offline", "no device active: offline", empty)
    c.that(
        (empty["total_devices"], empty["active_devices"], empty["pending_syncs"]) == (0, 0, 0),
        "no devices, nothing pending",
        empty,
    )
    c.that(empty["devices"] == [] and "conflicts" not in empty, "no devices, no conflicts key",
           empty)
    c.that(
        empty["data_summary"]["tables"] == {"preferences": {"rows": 0},
                                            "session_overlaps": {"rows": 0},
                                            "sessions": {"rows": 0}},
        "data summary of empty tables",
        empty,
    )
    c.that(empty["recommendations"][0].startswith("No devices are registered"), "advice", empty)
    c.that(empty["user"] == {"sub": "alice", "role": "USER"} and empty["last_hours"] == 24,
           "the caller and the default window", empty)
    c.that("last_sync" not in empty and (empty["sync_lag"], empty["sync_lag_seconds"]) == ("none", 0),
           "no last_sync before any ack; no lag", empty)

    c.section("the three apps register; never seen: offline")
    tokens = {}
    for device_id, (name, platform, version) in DEVICES.items():
        answer = gw.call("POST", "/api/sync/devices", token=alice,
                         body={"id": device_id, "name": name, "platform": platform,
                               "app_version": version})
        registered = c.status(answer, 201, f"register {device_id}")
        c.that(registered["token"].startswith("sgd_")
               and registered["device"]["device_id"] == device_id,
               "the device and its token", registered)
        tokens[device_id] = registered["token"]
    mac, web, win = tokens[MAC], tokens[WEB], tokens[WIN]
    fresh = c.status(status(gw, alice), 200, "status after registration")
    devices = by_device(fresh)
    c.that(fresh["sync_status"] == "offline" and fresh["total_devices"] == 3
           and fresh["active_devices"] == 0, "3 devices, none active: offline", fresh)
    c.that(
        {d: (v["device_type"], v["version"], v["sync_status"]) for d, v in devices.items()}
        == {d: (p, v, "offline") for d, (_, p, v) in DEVICES.items()},
        "each device with its type and version, offline",
        fresh,
    )
    c.that(all("last_seen" not in v for v in devices.values()), "never seen", fresh)
    c.that(all("pending_upload" not in v for v in devices.values()),
           "no pending_upload before a device reports one", fresh)
    c.that(
        sum("has never synced" in r for r in fresh["recommendations"]) == 3,
        "one recommendation per device that never synced",
        fresh,
    )

    c.section("the Mac submits sessions (the seed's POST /api/pomodoro/submit), then acks")
    s1, s2 = session("2025-08-24T15:00:00Z", task="report"), session("2025-08-24T15:30:00Z")
    pushed = c.status(
        submit(gw, mac, MAC, [
            {"op_id": "mac:1", "action": "insert", "data": s1},
            {"op_id": "mac:2", "action": "insert", "data": s2},
        ]),
        200,
        "two sessions",
    )
    c.that(
        [a["row"]["user_id"] for a in pushed["applied"]] == ["alice", "alice"],
        "sessions take the user from the token",
        pushed,
    )
    c.that(set(pushed) == {"success", "applied", "conflicts", "errors", "cursor"}
           and pushed["success"] is True, "the push answer's fields", pushed)
    c.error(
        submit(gw, mac, WEB, [{"action": "insert", "data": session("2025-08-24T16:00:00Z")}]),
        403,
        "forbidden",
        "the Mac's token pushing as the web app",
    )
    behind = c.status(status(gw, alice), 200, "status before the Mac acknowledges")
    devices = by_device(behind)
    c.that(behind["sync_status"] == "delayed" and behind["active_devices"] == 1,
           "the Mac is active and behind: delayed", behind)
    c.that(devices[MAC]["sync_status"] == "pending" and devices[MAC]["pending"] == 2
           and "last_seen" in devices[MAC], "the Mac is pending 2 changes, seen now", behind)
    c.that(TIME.match(devices[MAC]["last_seen"]), "last_seen in UTC to the millisecond", behind)
    c.that({"name", "user", "pending_download", "lag_seconds", "acked_cursor", "outbox_pending",
            "created_at", "token_expires_at"} <= set(devices[MAC])
           and (devices[MAC]["name"], devices[MAC]["user"], devices[MAC]["pending_download"])
           == ("MacBook", "alice", 2), "the device's extra fields", devices[MAC])
    c.that("last_sync" not in behind, "no last_sync before the first ack", behind)
    own = c.status(status(gw, mac), 200, "status asked with the Mac's device token")
    c.that((own["user"]["sub"], own["total_devices"], own["pending_syncs"]) == ("alice", 3, 6),
           "a device token sees its user's status", own)
    c.that([devices[d]["pending"] for d in (WEB, WIN)] == [2, 2],
           "the other devices have not received them either", behind)
    c.that(behind["pending_syncs"] == 6 and behind["data_summary"]["unsynced_changes"] == 6,
           "pending_syncs sums every device's backlog", behind)
    c.that(f"Device `{MAC}` has 2 unacknowledged changes — sync recommended"
           in behind["recommendations"], "recommends a sync of the Mac", behind)
    acked = c.status(ack(gw, mac, MAC, pushed["cursor"]), 200, "the Mac acknowledges")
    c.that(acked["sync_status"] == "up_to_date" and acked["acked_cursor"] == pushed["cursor"],
           "the ack answers the device, up to date", acked)
    healthy = c.status(status(gw, alice), 200, "status after the ack")
    c.that(healthy["sync_status"] == "healthy", "every active device synced: healthy", healthy)
    c.that(healthy["last_sync"] == acked["last_ack"], "last_sync is the latest ack", healthy)
    c.that(TIME.match(healthy["last_sync"]) and (healthy["sync_lag"], healthy["sync_lag_seconds"])
           == ("none", 0), "last_sync in UTC to the millisecond; no lag", healthy)
    c.that("last_ack" in by_device(healthy)[MAC], "the device's last_ack", healthy)
    c.that(healthy["data_summary"]["tables"]["sessions"]["rows"] == 2
           and "last_change" in healthy["data_summary"]["tables"]["sessions"],
           "total sessions and when they last changed", healthy)
    c.that(healthy["data_summary"]["last_change"]
           == healthy["data_summary"]["tables"]["sessions"]["last_change"],
           "the summary's last_change: the latest of any table", healthy)
    c.that(when(healthy["data_summary"]["last_change"]) >= when(empty["server_time"]),
           "last_change is when the row changed on the server, not the session's start", healthy)
    c.error(ack(gw, mac, MAC, "99999999"), 422, "validation_failed",
            "an ack beyond the head of the feed")

    c.section("the web app pulls (the seed's GET /api/user/data) and acknowledges")
    data = c.status(gw.call("POST", "/api/sync/pull", token=web, body={}), 200, "pull")
    c.that(sorted(r["id"] for r in data["data"]["sessions"]) == sorted([s1["id"], s2["id"]])
           and data["data"]["preferences"] == [], "the user's sessions, no preferences yet", data)
    c.that({"success", "data", "removed", "limit", "cursor", "has_more"} == set(data)
           and data["has_more"] is False, "the pull answer's fields", data)
    feed = c.status(gw.call("GET", "/api/sync/changes?cursor=", token=web), 200, "changes feed")
    c.that({s1["id"], s2["id"]} <= {ch.get("key") for ch in feed["changes"]},
           "the changes feed holds both sessions", feed)
    time.sleep(0.01)  # the web app's ack must be later than the Mac's
    web_ack = c.status(ack(gw, web, WEB, data["cursor"]), 200, "the web app acknowledges")
    after = c.status(status(gw, alice), 200, "status")
    two = by_device(after)
    c.that(two[WEB]["sync_status"] == "up_to_date" and two[WIN]["sync_status"] == "offline",
           "web up to date, Windows still never seen", two)
    c.that(after["last_sync"] == web_ack["last_ack"] != acked["last_ack"],
           "last_sync is now the web app's ack, the latest of any device", after)
    c.that("pending_upload" not in two[WEB], "no pending_upload until the device reports", two)

    c.section("the seed's sessions_pending: sessions a device recorded and has not uploaded")
    held = c.status(ack(gw, web, WEB, data["cursor"], pending_upload=2), 200,
                    "the web app acks, saying it holds 2 sessions it could not upload yet")
    c.that(held["pending_upload"] == 2 and held["pending_download"] == 0
           and held["sync_status"] == "pending", "pending in the upload direction", held)
    report = c.status(status(gw, alice), 200, "status")
    c.that(report["pending_upload"] == 2 and by_device(report)[WEB]["pending_upload"] == 2
           and "pending_upload_at" in by_device(report)[WEB],
           "status shows the device's unsent sessions, and since when", report)
    c.status(ack(gw, mac, MAC, pushed["cursor"], pending_upload=1), 200,
             "the Mac acks, holding 1 session")
    both = c.status(status(gw, alice), 200, "status")
    c.that(both["pending_upload"] == 3 and both["pending_syncs"] == both["pending_download"] == 2,
           "pending_upload sums the devices' reports; pending_syncs is the other direction", both)
    c.status(ack(gw, mac, MAC, pushed["cursor"], pending_upload=0), 200, "the Mac uploaded it")
    c.that(f"Device `{WEB}` has 2 writes not uploaded yet — sync recommended"
           in report["recommendations"], "and recommends syncing", report["recommendations"])
    sent = c.status(ack(gw, web, WEB, data["cursor"], pending_upload=0), 200,
                    "uploaded: the web app acks with 0")
    c.that(sent["sync_status"] == "up_to_date" and sent["pending_upload"] == 0,
           "up to date both ways", sent)

    c.section("preferences (the seed's PUT /api/user/preferences) merge across devices")
    first = c.status(
        submit(gw, web, WEB, [{"action": "upsert", "data": {
            "user_id": "alice", "theme": "dark", "settings": {"sound": "bell"}}}],
            table="preferences"),
        200,
        "the web app sets theme and sound",
    )
    c.status(
        submit(gw, web, WEB, [{"action": "update", "base_version": 1,
                               "data": {"user_id": "alice", "focus_minutes": 50}}],
               table="preferences"),
        200,
        "the web app sets 50-minute focus",
    )
    merged = c.status(
        submit(gw, mac, MAC, [{"action": "update", "base_version": 1, "data": {
            "user_id": "alice", "settings": {"auto_start": True}}}], table="preferences"),
        200,
        "the Mac, still on version 1, sets auto_start",
    )
    row = merged["applied"][0]["row"]
    c.that(first["applied"][0]["row"]["focus_minutes"] == 25, "defaults fill a new row", first)
    c.that(
        (row["theme"], row["focus_minutes"], row["settings"], merged["applied"][0]["version"])
        == ("dark", 50, {"sound": "bell", "auto_start": True}, 3),
        "merge keeps the other device's columns and settings keys",
        merged,
    )
    c.that(
        merged["applied"][0].get("conflict", {}).get("resolution") == "merged",
        "the answer says the write was merged over a newer row",
        merged,
    )
    summary = c.status(status(gw, alice), 200, "status")["data_summary"]["tables"]
    c.that(summary["preferences"]["rows"] == 1 and "last_change" in summary["preferences"],
           "preferences updated, with its time", summary)
    c.error(
        submit(gw, web, WEB, [{"action": "update", "data": {"user_id": "alice", "theme": "sepia"}}],
               table="preferences"),
        422,
        "validation_failed",
        "a theme that is not one of the values",
    )

    c.section("Windows falls behind: pending, then stale after stale_after")
    overlap = c.status(
        submit(gw, win, WIN, [{"action": "insert", "data": session(
            "2025-08-24T15:10:00Z", device_type="windows_app")}]),
        200,
        "Windows submits a session and does not acknowledge",
    )
    c.that(len(overlap["applied"]) == 1 and overlap["conflicts"] == [],
           "a session overlapping the Mac's 15:00-15:25 one is kept (both may be real)", overlap)
    flags = c.status(gw.call("POST", "/api/sync/pull", token=alice,
                             body={"tables": ["session_overlaps"]}), 200, "pull the flags")
    flagged = flags["data"]["session_overlaps"]
    windows_id = overlap["applied"][0]["key"]
    c.that(sorted(f["affected_sessions"][0] for f in flagged) == sorted([s1["id"], s2["id"]])
           and all(f["type"] == "session_overlap" and f["affected_sessions"][1] == windows_id
                   and f["devices"] == ["mac_app", "windows_app"]
                   and f["resolution"] == "manual_review_required"
                   and f["description"] == "Overlapping sessions detected from different devices"
                   for f in flagged),
           "15:10-15:35 on Windows overlaps both Mac sessions (15:00-15:25, 15:30-15:55): the "
           "hook flagged each, both sessions and both apps, for review", flagged)
    c.error(gw.call("POST", "/api/sync/push", token=alice, body={"device_id": WIN, "operations": [
        {"table": "session_overlaps", "action": "delete", "data": {"id": flagged[0]["id"]}}]}),
        403, "forbidden", "a user may read the flags, not write them")
    end = head(gw, alice)
    c.status(ack(gw, mac, MAC, end), 200, "the Mac acknowledges")
    c.status(ack(gw, web, WEB, end, pending_upload=1), 200,
             "the web app acknowledges, holding 1 session it has not uploaded")
    pending = c.status(status(gw, alice), 200, "status")
    windows = by_device(pending)[WIN]
    # The feed holds each changed row once: 3 sessions, 1 preferences row and the 2 flags.
    c.that(windows["sync_status"] == "pending" and windows["pending"] == 6,
           "Windows is pending every row changed since its (absent) ack", pending)
    c.that(pending["sync_status"] == "delayed" and pending["pending_syncs"] == 6,
           "overall delayed; only Windows' backlog is pending", pending)
    c.that(f"Device `{WIN}` has 6 unacknowledged changes — sync recommended"
           in pending["recommendations"], "recommends syncing Windows", pending)
    time.sleep(3.2)
    stale = c.status(status(gw, alice), 200, "status after stale_after")
    windows = by_device(stale)[WIN]
    c.that(windows["sync_status"] == "stale" and windows["lag_seconds"] >= 3,
           "Windows is stale, with its lag", stale)
    c.that(stale["sync_status"] == "delayed" and stale["sync_lag_seconds"] >= 3
           and stale["sync_lag"] != "none", "overall delayed, with the largest lag", stale)
    c.that(any(r.startswith(f"Device `{WIN}` has been behind for")
               for r in stale["recommendations"]),
           "recommends opening the Windows app", stale)
    c.that(stale["sync_lag"] == "under a minute", "a lag of seconds reads 'under a minute'", stale)
    c.that(by_device(stale)[MAC]["sync_status"] == "up_to_date", "the Mac stays up to date", stale)
    c.that(by_device(stale)[WEB]["sync_status"] == "stale",
           "the web app, holding its upload longer than stale_after, is stale", stale)
    c.status(ack(gw, web, WEB, end, pending_upload=0), 200, "the web app uploaded it")
    c.status(ack(gw, win, WIN, end), 200, "Windows acknowledges")
    back = c.status(status(gw, alice), 200, "status")
    c.that(back["sync_status"] == "healthy" and back["pending_syncs"] == 0
           and back["active_devices"] == 3, "all three up to date: healthy", back)
    c.that(back["recommendations"] == ["All devices are up to date"], "nothing to do", back)

    c.section("conflicts: two devices change one session (check_conflicts=true)")
    c.status(submit(gw, mac, MAC, [{"action": "update", "base_version": 1,
                                    "data": {"id": s1["id"], "task": "write the report"}}]),
             200, "the Mac renames the task")
    clash = c.status(
        submit(gw, web, WEB, [{"op_id": "web:9", "action": "update", "base_version": 1,
                               "data": {"id": s1["id"], "ended_at": "2025-08-24T15:25:00Z",
                                        "completed": True}}]),
        200,
        "the web app, on version 1, completes it",
    )
    queued = clash["conflicts"][0]["conflict"]
    c.that(clash["applied"] == [] and queued["resolution"] == "queued"
           and queued["strategy"] == "manual",
           "the web app's change is queued for review", clash)
    plain = c.status(status(gw, alice), 200, "status without check_conflicts")
    c.that(plain["sync_status"] == "conflicts" and "conflicts" not in plain,
           "overall conflicts; the list only when asked", plain)
    c.that(plain["data_summary"]["open_conflicts"] == 1, "conflicts_detected is 1", plain)
    c.that(plain["recommendations"][0] == "1 conflict waits for a decision — review it with "
           "GET /sync/conflicts and resolve it", "advice, naming the path without /api", plain)
    c.that("conflict_resolution" not in plain, "no conflict_resolution block", plain)
    listed = c.status(status(gw, alice, "?check_conflicts=true"), 200, "check_conflicts=true")
    conflict = listed["conflicts"][0]
    c.that(
        (conflict["id"], conflict["table"], conflict["key"], conflict["device_id"],
         conflict["server_version"], conflict["base_version"])
        == (queued["conflict_id"], "sessions", s1["id"], WEB, 2, 1),
        "the conflict names the session, the device and both versions",
        listed,
    )
    c.that(conflict["server_row"]["task"] == "write the report"
           and conflict["client_row"]["completed"] is True, "both rows", conflict)
    c.that(conflict["user"] == "alice" and "created_at" in conflict
           and "conflict_resolution" not in listed, "who and when; no conflict_resolution", listed)
    c.that(c.status(gw.call("GET", "/api/sync/conflicts", token=mac), 200, "list")["conflicts"]
           == listed["conflicts"], "GET /api/sync/conflicts lists the same")

    c.section("another user sees nothing of alice's")
    theirs = c.status(status(gw, bob, "?check_conflicts=true"), 200, "bob's status")
    c.that((theirs["total_devices"], theirs["conflicts"], theirs["sync_status"])
           == (0, [], "offline"),
           "no devices, no conflicts", theirs)
    c.that(theirs["data_summary"]["tables"]
           == {"preferences": {"rows": 0}, "session_overlaps": {"rows": 0},
               "sessions": {"rows": 0}},
           "no rows counted", theirs)
    everything = gw.call("POST", "/api/sync/pull", token=bob, body={})
    c.that(everything.status == 200 and s1["id"].encode() not in everything.body
           and b"alice" not in everything.body, "bob's pull holds nothing of alice", everything)
    feed = gw.call("GET", "/api/sync/changes?limit=1000", token=bob)
    c.that(feed.status == 200 and feed.json["changes"] == [], "bob's feed is empty", feed)
    c.that(c.status(gw.call("GET", "/api/sync/devices", token=bob), 200, "devices")["devices"]
           == [],
           "bob lists no device")
    for method, path, body in (
        ("GET", f"/api/sync/devices/{MAC}", None),
        ("PUT", f"/api/sync/devices/{MAC}", {"name": "mine now"}),
        ("POST", f"/api/sync/devices/{MAC}/token", None),
        ("DELETE", f"/api/sync/devices/{MAC}", None),
        ("POST", "/api/sync/ack", {"device_id": MAC, "cursor": "1"}),
        ("GET", f"/api/tables/sessions/rows/{s1['id']}", None),
        ("GET", "/api/tables/preferences/rows/alice", None),
        ("POST", f"/api/sync/conflicts/{queued['conflict_id']}/resolve",
         {"resolution": "use_local"}),
    ):
        answer = gw.call(method, path, token=bob, body=body)
        c.that(answer.status == 404 and b"write the report" not in answer.body,
               f"bob: {method} {path} is not found", answer)
    c.error(submit(gw, bob, "bob-phone",
                   [{"action": "update", "data": {"id": s1["id"], "task": "x"}}]),
            404, "row_not_found", "bob updating alice's session")
    c.error(submit(gw, bob, "bob-phone", [{"action": "delete", "data": {"id": s1["id"]}}]),
            404, "row_not_found", "bob deleting alice's session")
    c.error(submit(gw, bob, "bob-phone",
                   [{"action": "insert",
                     "data": session("2025-08-24T10:00:00Z", user_id="alice")}]),
            403, "forbidden", "bob writing a session for alice")
    c.error(submit(gw, bob, "bob-phone", [{"action": "upsert", "data": {"user_id": "alice",
                                                                        "theme": "light"}}],
                   table="preferences"),
            409, "key_taken", "bob taking alice's preferences row")
    reuse = submit(gw, bob, MAC, [{"op_id": "mac:1", "action": "insert",
                                   "data": session("2025-08-24T09:00:00Z")}])
    c.that(reuse.status == 200 and reuse.json["applied"][0]["replayed"] is False
           and s1["id"].encode() not in reuse.body,
           "alice's op id and device id do not replay alice's write for bob", reuse)
    seen = by_device(c.status(status(gw, alice), 200, "status"))[MAC]
    c.that(seen["name"] == "MacBook", "alice's Mac is not renamed", seen)
    c.that(c.status(gw.call("GET", "/api/tables/sessions/rows/" + s1["id"], token=alice), 200,
                    "alice reads her session")["task"] == "write the report",
           "alice's session is untouched")
    counted = c.status(status(gw, bob), 200, "bob")
    c.that(counted["data_summary"]["tables"]["sessions"]["rows"] == 1
           and counted["total_devices"] == 0,
           "bob counts his one session; device ids he pushed as are not registered", counted)
    c.status(submit(gw, bob, "bob-phone", [{"action": "delete",
                                            "data": {"id": reuse.json["applied"][0]["key"]}}]),
             200, "bob deletes his session")
    c.that(c.status(status(gw, bob), 200, "bob")["data_summary"]["tables"]["sessions"]["rows"] == 0,
           "a deleted session is not counted")

    c.section("resolving the conflict")
    resolved = c.status(
        gw.call("POST", f"/api/sync/conflicts/{queued['conflict_id']}/resolve", token=alice,
                body={"resolution": "merged", "data": {"task": "write the report",
                                                        "ended_at": "2025-08-24T15:25:00Z",
                                                        "completed": True}}),
        200,
        "merge both changes",
    )
    c.that((resolved["version"], resolved["row"]["task"], resolved["row"]["completed"])
           == (3, "write the report", True), "the merged row is version 3", resolved)
    c.error(gw.call("POST", f"/api/sync/conflicts/{queued['conflict_id']}/resolve", token=alice,
                    body={"resolution": "use_server"}), 409, "already_resolved", "resolving again")

    def clash_on_s2(base, mac_task, web_task):
        c.status(submit(gw, mac, MAC, [{"action": "update", "base_version": base,
                                        "data": {"id": s2["id"], "task": mac_task}}]),
                 200, f"the Mac sets the task to {mac_task!r}")
        queued = c.status(submit(gw, web, WEB, [{"action": "update", "base_version": base,
                                                 "data": {"id": s2["id"], "task": web_task}}]),
                          200, f"the web app, on version {base}, sets it to {web_task!r}")
        return queued["conflicts"][0]["conflict"]["conflict_id"]

    local = c.status(
        gw.call("POST", f"/api/sync/conflicts/{clash_on_s2(1, 'plan', 'review')}/resolve",
                token=alice, body={"resolution": "use_local"}),
        200, "use_local",
    )
    c.that(local["row"]["task"] == "review", "use_local keeps the device's change", local)
    server = c.status(
        gw.call("POST", f"/api/sync/conflicts/{clash_on_s2(local['version'], 'ship', 'draft')}"
                "/resolve", token=alice, body={"resolution": "use_server"}),
        200, "use_server",
    )
    c.that(server["row"]["task"] == "ship", "use_server keeps the server's row", server)
    end = head(gw, alice)
    for token, device_id in ((mac, MAC), (web, WEB), (win, WIN)):
        ack(gw, token, device_id, end)
    settled = c.status(status(gw, alice, "?check_conflicts=true"), 200, "status")
    c.that(settled["sync_status"] == "healthy" and settled["conflicts"] == []
           and settled["data_summary"]["open_conflicts"] == 0, "no conflict left: healthy", settled)

    c.section("include_devices and last_hours")
    lean = c.status(status(gw, alice, "?include_devices=false"), 200, "include_devices=false")
    c.that("devices" not in lean and lean["total_devices"] == 3, "no device list, still counted",
           lean)
    hour = c.status(status(gw, alice, "?last_hours=1"), 200, "last_hours=1")
    c.that(hour["last_hours"] == 1 and hour["active_devices"] == 3, "all seen within the hour",
           hour)
    # Devices last seen hours ago (no request can make that, so the database is set while the
    # gateway is stopped, as the last-seen times it keeps in memory are flushed at stop): the Mac
    # and the web app two hours ago, Windows five. The window must count them in or out.
    gw.stop()
    now_ms = int(time.time() * 1000)
    for device_id, hours in ((MAC, 2), (WEB, 2), (WIN, 5)):
        gw.sql(f"UPDATE syncgate_devices SET last_seen = {now_ms - hours * 3600 * 1000} "
               f"WHERE id = '{device_id}'")
    gw.start()
    windows = {h: c.status(status(gw, alice, f"?last_hours={h}"), 200,
                           f"last_hours={h} after a restart") for h in (1, 3, 6)}
    c.that({h: w["active_devices"] for h, w in windows.items()} == {1: 0, 3: 2, 6: 3},
           "devices seen 2 and 5 hours ago count for 3 or 6 hours, none for 1",
           {h: w["active_devices"] for h, w in windows.items()})
    c.that((windows[1]["sync_status"], windows[3]["sync_status"]) == ("offline", "healthy"),
           "no device seen within the last hour: offline; within 3 hours: healthy",
           {h: w["sync_status"] for h, w in windows.items()})
    c.that(windows[1]["total_devices"] == 3
           and windows[1]["data_summary"] == windows[6]["data_summary"]
           and [d["sync_status"] for d in windows[1]["devices"]] == ["up_to_date"] * 3,
           "last_hours sets only the active window: total, summary and device statuses stay",
           windows[1])
    c.error(status(gw, alice, "?last_hours=0"), 400, "bad_request", "last_hours=0")

    c.section("device management: update and delete")
    renamed = c.status(gw.call("PUT", f"/api/sync/devices/{WIN}", token=alice,
                               body={"app_version": "1.2.0"}), 200, "Windows updated")
    c.that(renamed["version"] == "1.2.0", "the new app version", renamed)
    c.status(gw.call("DELETE", f"/api/sync/devices/{WIN}", token=alice), 204, "Windows removed")
    c.error(gw.call("GET", "/api/sync/changes", token=win), 401, "unauthorized",
            "a deleted device's token")
    c.that(c.status(status(gw, alice), 200, "status")["total_devices"] == 2, "two devices left")


def run_offline(gw, c):
    c.section("a device not seen for offline_after: offline, with when it was last seen")
    carol = gw.token("carol", "USER")
    registered = c.status(
        gw.call("POST", "/api/sync/devices", token=carol,
                body={"id": "carol-mac", "name": "Mac", "platform": "mac_app", "app_version": "1"}),
        201,
        "register",
    )
    device = registered["token"]
    c.status(gw.call("GET", "/api/sync/devices/carol-mac", token=device), 200, "the device asks")
    now = by_device(c.status(status(gw, carol), 200, "status"))["carol-mac"]
    c.that(now["sync_status"] == "up_to_date" and "last_seen" in now, "seen, up to date", now)
    time.sleep(2.2)
    later = c.status(status(gw, carol), 200, "status after offline_after")
    gone = by_device(later)["carol-mac"]
    c.that(gone["sync_status"] == "offline" and gone["last_seen"] == now["last_seen"],
           "offline, last seen then", later)
    c.that(any(r.startswith("Device `carol-mac` has not been seen since")
               for r in later["recommendations"]),
           "recommends checking the device", later)
    c.that(later["active_devices"] == 1 and later["sync_status"] == "healthy",
           "offline by offline_after yet active within last_hours: overall healthy", later)

    c.section("a user's push or ack with the device's id makes it seen")
    pushed = c.status(submit(gw, carol, "carol-mac", [{"action": "insert", "data": session(
        "2025-08-24T09:00:00Z")}]), 200, "carol (her JWT) pushes as carol-mac")
    back = by_device(c.status(status(gw, carol), 200, "status"))["carol-mac"]
    c.that(back["sync_status"] == "pending" and when(back["last_seen"]) > when(gone["last_seen"]),
           "seen again, pending its own push", back)
    c.that("Device `carol-mac` has 1 unacknowledged change — sync recommended"
           in c.status(status(gw, carol), 200, "status")["recommendations"],
           "one change, in the singular")
    time.sleep(1.2)
    behind = c.status(status(gw, carol), 200, "status after offline_after")
    away = by_device(behind)["carol-mac"]
    c.that(away["sync_status"] == "offline" and away["lag_seconds"] >= 1,
           "offline again, with a lag", behind)
    c.that((behind["sync_lag"], behind["sync_lag_seconds"]) == ("none", 0),
           "an offline device's lag is not the user's sync_lag", behind)
    c.status(ack(gw, carol, "carol-mac", pushed["cursor"]), 200,
             "carol (her JWT) acks as carol-mac")
    synced = by_device(c.status(status(gw, carol), 200, "status"))["carol-mac"]
    c.that(synced["sync_status"] == "up_to_date" and when(synced["last_seen"]) > when(away["last_seen"]),
           "seen again, up to date", synced)


if __name__ == "__main__":
    e2e_lib.run("003-multi-device-status", scenario)
