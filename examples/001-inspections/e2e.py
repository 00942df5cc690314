"""Seed 001 (inspection forms) end to end: a real gateway on this example's config, driven
through every flow of the seed document — form fills created without an id, the batch sync
with per-item results, merged form data, optimistic locking on updated_at with both versions
and `use_local`, photo upload into the form's data and deletion (the files job then removes the
file), signature deletion, the per-user status counts, and the policies (own, assigned, admin) —
on SQLite and PostgreSQL.

    python3 examples/001-inspections/e2e.py     (scripts/examples-check runs it)
"""

import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import e2e_lib  # noqa: E402

HERE = Path(__file__).resolve().parent
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


def multipart(fields, file_bytes=None, filename="photo.jpg"):
    """A multipart/form-data body: the text `fields`, then `file` when given."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in fields.items():
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    if file_bytes is not None:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode() + file_bytes + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def scenario(backend, check):
    e2e_lib.drive(HERE, backend, check, flows)


def flows(gw, check):
    admin = gw.token("admin", "ADMIN")
    owner = gw.token("42", "TECHNICIAN")  # user 42 owns inspection 1
    assigned = gw.token("7", "TECHNICIAN")  # technician 7 is assigned to it
    outsider = gw.token("9", "TECHNICIAN")  # user 9 owns inspection 2 only

    def push(token, operations, atomic=False, device="tablet-42"):
        return gw.call("POST", "/api/v1/sync/push", token,
                       {"device_id": device, "atomic": atomic, "operations": operations})

    def row(token, table, key):
        return gw.call("GET", f"/api/v1/tables/{table}/rows/{key}", token)

    check.section("an admin sets up inspections and a form fill (admins have full access)")
    answer = push(admin, [
        {"table": "inspections", "action": "insert", "data": {
            "id": 1, "user_id": "42", "assigned_to": ["7"], "title": "Main building"}},
        {"table": "inspections", "action": "insert", "data": {
            "id": 2, "user_id": "9", "title": "Warehouse"}},
        {"table": "inspections", "action": "insert", "data": {
            "id": 3, "user_id": "42", "title": "Garage", "status": "completed"}},
        {"table": "form_fills", "action": "insert", "data": {
            "id": 456, "inspection_id": 1,
            "data": {"Building_Name": "Old name", "Inspector_Note": "server only"}}},
        {"table": "form_fills", "action": "insert", "data": {
            "id": 900, "inspection_id": 2, "data": {"Building_Name": "Warehouse"}}},
    ], atomic=True, device="admin-console")
    body = check.status(answer, 200, "admin push")
    check.that(len(body["applied"]) == 5, "five rows applied", body)
    seen_at = body["applied"][3]["row"]["updated_at"]
    check.that(seen_at is not None, "the server stamped updated_at", body)
    check.that(set(body["applied"][3]["row"]) == {"id", "inspection_id", "data", "updated_at",
                                                  "_version"},
               "no owner column is copied onto a form fill", body["applied"][3]["row"])

    check.section("the technician's tablet registers (its acks give last_sync)")
    check.status(gw.call("POST", "/api/v1/sync/devices", owner, {
        "id": "tablet-42", "name": "Tablet", "platform": "android", "app_version": "3.1.0"}),
        201, "register the device")

    check.section("a form fill created offline without an id: the server assigns it")
    new_fill = [
        {"op_id": "offline-new-1", "table": "form_fills", "action": "insert", "data": {
            "inspection_id": 3, "data": {"Building_Name": "Garage"}}},
        {"op_id": "offline-new-2", "table": "form_fills", "action": "update", "data": {
            "id": {"key_of": "offline-new-1"}, "data": {"Location_row_1": "Ground"}}},
    ]
    body = check.status(push(owner, new_fill, atomic=True), 200, "insert without id, then update")
    created = body["applied"][0]
    check.that(isinstance(created["key"], int) and created["key"] > 900
               and created["row"]["id"] == created["key"],
               "the answer maps the op id to the new id (after the highest taken, 900)", body)
    fill_id = created["key"]
    check.that(body["applied"][1]["key"] == fill_id
               and body["applied"][1]["row"]["data"] == {"Building_Name": "Garage",
                                                         "Location_row_1": "Ground"},
               "the second item of the batch updated the new form fill by its op id", body)
    again = check.status(push(owner, new_fill, atomic=True), 200, "the same batch again")
    check.that([r["key"] for r in again["applied"]] == [fill_id, fill_id]
               and all(r["replayed"] for r in again["applied"]),
               "a retry is answered with the same id, nothing created twice", again)
    check.error(push(owner, [{"table": "form_fills", "action": "update", "data": {
        "data": {"x": 1}}}], atomic=True), 422, "validation_failed",
        "an update still needs the id (the seed: required for updates)")

    check.section("without atomic: false a batch is all or nothing (the default)")
    error = check.error(gw.call("POST", "/api/v1/sync/push", owner, {
        "device_id": "tablet-42", "operations": [
            {"table": "inspections", "action": "update", "data": {"id": 3, "notes": "kept?"}},
            {"table": "inspections", "action": "update", "data": {"id": 3, "status": "done"}}]}),
        422, "validation_failed", "one bad item in a batch sent without atomic")
    check.that(error["details"]["index"] == 1 and error["details"]["field"] == "status",
               "the error names the item and its field", error)
    check.that(check.status(row(owner, "inspections", 3), 200, "read")["notes"] is None,
               "the good item was not written either")

    check.section("POST /api/v1/sync: a batch of sync items with per-item results")
    answer = push(owner, [
        {"op_id": "offline-123", "table": "form_fills", "action": "update", "data": {
            "id": 456, "updated_at": seen_at,
            "data": {"Building_Name": "Main Building", "Location_row_1": "First Floor"}}},
        {"op_id": "inspection-1", "table": "inspections", "action": "update", "data": {
            "id": 1, "status": "in_progress", "notes": "started",
            "updated_at": "2099-01-01T00:00:00Z"}},
        {"op_id": "no-delete", "table": "form_fills", "action": "delete", "data": {"id": 456}},
        {"op_id": "missing-1", "table": "form_fills", "action": "update", "data": {
            "id": 999, "data": {"x": 1}}},
        {"op_id": "bad-type", "table": "form_fill_v2", "action": "update", "data": {"id": 1}},
        {"op_id": "bad-status", "table": "inspections", "action": "update", "data": {
            "id": 1, "status": "done"}},
    ])
    body = check.status(answer, 200, "a per-item batch answers 200")
    check.that(body["success"] is False, "success is false while some items failed", body)
    check.that({"applied", "errors", "conflicts"} <= set(body)
               and not {"results", "message", "synced_at"} & set(body),
               "applied, errors, conflicts at the top; no results, message, synced_at", body)
    applied = {r["op_id"]: r for r in body["applied"]}
    errors = {r["op_id"]: r["error"] for r in body["errors"]}
    check.that(set(applied) == {"offline-123", "inspection-1"}, "two items applied", body)
    check.that(applied["offline-123"]["key"] == 456, "the server id of the form fill", body)
    check.that({"op_id", "key", "table", "row", "version"} <= set(applied["offline-123"])
               and applied["offline-123"]["table"] == "form_fills"
               and applied["offline-123"]["version"] == applied["offline-123"]["row"]["_version"],
               "an applied item: op_id, key, table, row, version", applied["offline-123"])
    check.that(applied["inspection-1"]["row"]["updated_at"] < "2099",
               "a newer updated_at of the client's own is not stored (the server's time is)",
               applied["inspection-1"])
    check.that(errors.get("no-delete", {}).get("code") == "forbidden", "a technician may not delete", errors)
    check.that(all(e.get("message") for e in errors.values()), "each error has a message", errors)
    merged = applied["offline-123"]["row"]["data"]
    check.that(merged == {"Building_Name": "Main Building", "Location_row_1": "First Floor",
                          "Inspector_Note": "server only"},
               "local keys override, server-only keys are kept", merged)
    check.that(errors["missing-1"]["code"] == "row_not_found", "FormFill not found", errors)
    check.that(errors["bad-type"]["code"] == "unknown_table", "an invalid sync type", errors)
    check.that(errors["bad-status"]["code"] == "validation_failed"
               and errors["bad-status"]["field"] == "status", "a bad value names its field", errors)
    fill = check.status(row(owner, "form_fills", 456), 200, "read the form fill")
    check.that(fill["updated_at"] > seen_at, "stamped with the server's time again", fill)
    last_seen = fill["updated_at"]

    check.section("a replayed item is answered with its first result, not applied twice")
    answer = push(owner, [{"op_id": "offline-123", "table": "form_fills", "action": "update",
                           "data": {"id": 456, "updated_at": seen_at, "data": {
                               "Building_Name": "Main Building", "Location_row_1": "First Floor"}}}])
    body = check.status(answer, 200, "replay")
    check.that(body["applied"][0]["replayed"] is True, "replayed", body)
    again = check.status(row(owner, "form_fills", 456), 200, "read again")
    check.that(again["updated_at"] == last_seen, "nothing written by the replay", again)

    check.section("photo upload into the form's data in one request: images only, at most 10 MB")

    def upload(token, form_fill_id, field_name, content, filename="photo.jpg"):
        """The seed's upload_photo(form_fill_id, field_name, photo)."""
        fields = {"table": "form_fills", "row": form_fill_id, "field": f"data.{field_name}"}
        data, headers = multipart(fields, content, filename)
        return gw.call("POST", "/api/v1/sync/files", token, headers=headers, data=data)

    uploaded = check.status(upload(owner, 456, "Inspection_Photo_1", JPEG), 201,
                            "a JPEG into form fill 456's Inspection_Photo_1")
    attachment_id = uploaded["attachment_id"]
    check.that(len(attachment_id) > 0, "photo_attachment_id", uploaded)
    check.that(not {"success", "message"} & set(uploaded), "no success, no message", uploaded)
    check.that(uploaded["row"]["data"].get("Inspection_Photo_1") == attachment_id
               and uploaded["row"]["data"].get("Location_row_1") == "First Floor",
               "the server wrote the id into the form's data, other keys kept", uploaded["row"])
    fill = check.status(row(owner, "form_fills", 456), 200, "read the form fill")
    check.that(fill["data"]["Inspection_Photo_1"] == attachment_id
               and fill["_version"] == uploaded["version"], "stored, as the new version", fill)
    check.error(upload(owner, 456, "Inspection_Photo_2", b"just some text", filename="a.jpg"),
                415, "unsupported_media_type", "File must be an image")
    check.error(upload(owner, 456, "Inspection_Photo_2", JPEG + b"\x00" * (10 * 1024 * 1024)),
                413, "file_too_large", "File too large (max 10MB)")
    data, headers = multipart({"table": "form_fills", "row": 456,
                               "field": "data.Inspection_Photo_2"})
    error = check.error(gw.call("POST", "/api/v1/sync/files", owner, headers=headers, data=data),
                        400, "bad_request", "Required parameters")
    check.that("file" in error["message"], "the missing part is named", error)
    check.error(upload(owner, 999, "Inspection_Photo_1", JPEG), 404, "row_not_found",
                "FormFill not found")
    check.error(upload(outsider, 456, "Inspection_Photo_1", JPEG), 404, "row_not_found",
                "Not authorized to update this form (another user's row is not found)")
    check.that("Inspection_Photo_2" not in check.status(row(owner, "form_fills", 456), 200,
                                                        "read")["data"],
               "refused uploads wrote nothing")
    download = gw.call("GET", f"/api/v1/sync/download/{attachment_id}", owner)
    check.that(download.status == 200 and download.body == JPEG, "the photo reads back", download)
    last_seen = check.status(row(owner, "form_fills", 456), 200, "read")["updated_at"]

    check.section("the assigned technician's update keeps the photo id (server-only key)")
    answer = push(assigned, [{"table": "form_fills", "action": "update", "data": {
        "id": 456, "updated_at": last_seen, "data": {"Location_row_1": "Second Floor"}}}],
        atomic=True, device="tablet-7")
    body = check.status(answer, 200, "assigned update")
    data = body["applied"][0]["row"]["data"]
    check.that(data.get("Inspection_Photo_1") == attachment_id
               and data.get("Location_row_1") == "Second Floor", "merged, photo kept", data)
    newest = body["applied"][0]["row"]["updated_at"]

    check.section("conflict: the server's updated_at is newer than the client's")
    answer = push(owner, [{"op_id": "offline-124", "table": "form_fills", "action": "update",
                           "data": {"id": 456, "updated_at": last_seen,
                                    "data": {"Building_Name": "Offline edit"}}}])
    body = check.status(answer, 200, "stale update")
    check.that(len(body["conflicts"]) == 1 and not body["applied"], "reported as a conflict", body)
    conflict = body["conflicts"][0]["conflict"]
    check.that(conflict["resolution"] == "server_kept", "nothing applied", conflict)
    check.that(conflict["strategy"] == "server_wins" and conflict.get("reason"),
               "the strategy and the reason", conflict)
    check.that(conflict["client_row"]["updated_at"] == last_seen, "local_version", conflict)
    check.that(conflict["server_row"]["updated_at"] == newest, "server_version", conflict)
    check.that(conflict["server_row"]["data"]["Building_Name"] == "Main Building", "server_data",
               conflict)
    check.that(conflict["client_row"]["data"]["Building_Name"] == "Offline edit", "local_data",
               conflict)
    current = check.status(row(owner, "form_fills", 456), 200, "read")
    check.that(current["data"]["Building_Name"] == "Main Building", "server row kept", current)

    check.section("resolve_strategy: use_local forces the local version")
    answer = push(owner, [{"op_id": "offline-125", "table": "form_fills", "action": "update",
                           "resolve": "use_local", "data": {"id": 456, "updated_at": last_seen,
                                                            "data": {"Building_Name": "Offline edit"}}}])
    body = check.status(answer, 200, "use_local")
    result = body["applied"][0]
    check.that(result["conflict"]["resolution"] == "client_applied", "forced", body)
    check.that(result["row"]["data"]["Building_Name"] == "Offline edit"
               and result["row"]["data"]["Inspection_Photo_1"] == attachment_id,
               "local wins, server-only keys still kept", result)
    check.that(result["row"]["updated_at"] > newest, "updated_at moves forward", result)

    check.section("photo_delete and signature_delete")
    signature = check.status(upload(owner, 456, "Signature", PNG, filename="sig.png"), 201,
                             "a PNG signature into the form's data")
    fill = check.status(row(owner, "form_fills", 456), 200, "read")
    answer = push(owner, [
        {"op_id": "delete-789", "table": "form_fills", "action": "update", "data": {
            "id": 456, "updated_at": fill["updated_at"],
            "data": {"Inspection_Photo_1": None, "Signature": None}}},
    ], atomic=True)
    body = check.status(answer, 200, "photo_delete and signature_delete as one update")
    check.status(gw.call("GET", f"/api/v1/sync/download/{attachment_id}", owner), 404,
                 "the photo can no longer be downloaded")
    check.status(gw.call("GET", f"/api/v1/sync/download/{signature['attachment_id']}", owner),
                 404, "nor the signature")
    data = body["applied"][0]["row"]["data"]
    check.that(data["Inspection_Photo_1"] is None and data["Signature"] is None
               and data["Building_Name"] == "Offline edit",
               "the fields are cleared, the rest kept", data)

    check.section("GET /api/v1/sync/status: counts per user")
    before = check.status(gw.call("GET", "/api/v1/sync/status", owner), 200, "status before an ack")
    check.that("last_sync" not in before, "no last_sync before the first ack", before)
    check.status(gw.call("POST", "/api/v1/sync/ack", owner,
                         {"device_id": "tablet-42", "cursor": body["cursor"]}), 200, "ack")
    status = check.status(gw.call("GET", "/api/v1/sync/status", owner), 200, "status of 42")
    tables = status["data_summary"]["tables"]
    check.that(tables["inspections"]["rows"] == 2, "total_inspections (own)", tables)
    check.that(tables["inspections"]["by_status"] == {"in_progress": 1, "completed": 1},
               "pending/completed inspections (no pending one: the key is absent)", tables)
    check.that(tables["form_fills"]["rows"] == 2, "total_form_fills (456 and the new one)",
               tables)
    check.that(status["user"]["sub"] == "42" and status["server_time"], "user_id, server_time",
               status)
    check.that(status["last_sync"] is not None, "last_sync after the ack", status)
    check.that(not {"success", "data", "message"} & set(status),
               "no success/data/message wrapper", status)
    assigned_status = check.status(gw.call("GET", "/api/v1/sync/status", assigned), 200, "of 7")
    check.that(assigned_status["data_summary"]["tables"]["inspections"]["by_status"]
               == {"in_progress": 1}, "assigned: inspection 1 only", assigned_status)
    admin_status = check.status(gw.call("GET", "/api/v1/sync/status", admin), 200, "of admin")
    check.that(admin_status["data_summary"]["tables"]["inspections"]["by_status"]
               == {"pending": 1, "in_progress": 1, "completed": 1}, "admin: all", admin_status)

    check.section("policies: own, assigned, admin — nobody else")
    for path in ("/api/v1/sync", "/api/v1/sync/upload_photo"):
        check.error(gw.call("POST", path, owner, {}), 404, "not_found", f"the seed's POST {path}")
    check.error(gw.call("GET", "/api/v1/sync/status"), 401, "unauthorized", "no token")
    check.error(gw.call("GET", "/api/v1/sync/status", "not-a-jwt"), 401, "unauthorized",
                "an invalid token")
    check.status(row(outsider, "form_fills", 456), 404, "user 9 cannot read 42's form")
    check.status(row(outsider, "inspections", 1), 404, "nor 42's inspection")
    check.status(row(assigned, "inspections", 2), 404, "7 is not assigned to inspection 2")
    check.status(row(assigned, "inspections", 3), 404, "nor to inspection 3")
    check.status(row(assigned, "inspections", 1), 200, "7 is assigned to inspection 1")
    changes = check.status(gw.call("GET", "/api/v1/sync/changes?limit=1000", outsider), 200,
                           "user 9's feed")
    keys = sorted((c["table"], c["key"]) for c in changes["changes"])
    check.that(keys == [("form_fills", 900), ("inspections", 2)], "only user 9's rows", keys)
    pulled = check.status(gw.call("POST", "/api/v1/sync/pull", assigned, {}), 200, "7's pull")
    check.that([r["id"] for r in pulled["data"]["inspections"]] == [1], "7 pulls inspection 1",
               pulled)
    leaks = 0
    for op in [
        {"table": "form_fills", "action": "update", "data": {"id": 456, "data": {"x": "9"}}},
        {"table": "inspections", "action": "update", "data": {"id": 1, "notes": "9 was here"}},
        {"table": "form_fills", "action": "insert", "data": {
            "id": 456, "inspection_id": 2, "data": {}}},
        {"table": "form_fills", "action": "update", "data": {"id": 900, "inspection_id": 1}},
        {"op_id": "offline-123", "table": "form_fills", "action": "update", "data": {
            "id": 456, "updated_at": seen_at,
            "data": {"Building_Name": "Main Building", "Location_row_1": "First Floor"}}},
    ]:
        body = check.status(push(outsider, [op], device="tablet-42"), 200, "user 9 tries")
        leaks += len(body["applied"]) + len(body["conflicts"])
        leaks += "Main Building" in str(body) or "Offline edit" in str(body)
    check.that(leaks == 0, "nothing of 42's rows is written or shown to user 9", leaks)
    final = check.status(row(admin, "form_fills", 456), 200, "admin reads everything")
    check.that(final["data"]["Building_Name"] == "Offline edit" and "x" not in final["data"],
               "42's form is untouched by user 9", final)

    check.section("form fills follow their inspection: reassigned, they leave the old devices")
    def feed(token, cursor=""):
        page = check.status(gw.call("GET", f"/api/v1/sync/changes?limit=1000&cursor={cursor}",
                                    token), 200, "the feed")
        return page["changes"], page["cursor"]
    held_42, cursor_42 = feed(owner)
    held_7, cursor_7 = feed(assigned)
    check.that(("form_fills", 456) in [(c["table"], c["key"]) for c in held_42 + held_7],
               "42 and 7 hold form fill 456 through inspection 1", held_42)
    newcomer = gw.token("11", "TECHNICIAN")
    _, cursor_11 = feed(newcomer)
    check.status(push(admin, [{"table": "inspections", "action": "update", "data": {
        "id": 1, "user_id": "11", "assigned_to": []}}]), 200, "inspection 1 passes to user 11")
    for who, token, cursor in [("42", owner, cursor_42), ("7", assigned, cursor_7)]:
        left, _ = feed(token, cursor)
        removed = {(c["table"], c["key"]) for c in left if c.get("removed")}
        check.that({("inspections", 1), ("form_fills", 456)} <= removed
                   and all(c.get("removed") for c in left)
                   and "Offline edit" not in str(left),
                   f"{who}'s device is told inspection 1 and form fill 456 left, nothing more",
                   left)
    entered, _ = feed(newcomer, cursor_11)
    check.that({("inspections", 1), ("form_fills", 456)}
               <= {(c["table"], c["key"]) for c in entered if not c.get("removed")},
               "user 11's device gets inspection 1 and its form fill", entered)
    check.status(row(owner, "form_fills", 456), 404, "42 can no longer read the form fill")
    check.status(row(newcomer, "form_fills", 456), 200, "user 11 can")

    check.section("the files job removes the cleared photo's and signature's files")
    kept = check.status(upload(admin, 900, "Inspection_Photo_1", PNG, filename="w.png"), 201,
                        "a photo that stays in form fill 900's data")["attachment_id"]

    def stored(attachment):
        """The attachment's file under files.dir, if it is still there."""
        return list((gw.work / "files").rglob(attachment))

    cleared = [attachment_id, signature["attachment_id"]]
    check.that(all(stored(a) for a in cleared + [kept]), "the three files are on disk")
    gw.stop()  # the files job again, every second, for files unreferenced for any time
    gw.env.update({"SYNCGATE_JOBS__FILES__SCHEDULE": "* * * * * *",
                   "SYNCGATE_FILES__CLEANUP_GRACE": "0s"})
    gw.start()
    deadline = time.time() + 10
    while any(stored(a) for a in cleared) and time.time() < deadline:
        time.sleep(0.2)
    check.that(not any(stored(a) for a in cleared), "the cleared files are gone",
               [stored(a) for a in cleared])
    download = gw.call("GET", f"/api/v1/sync/download/{kept}", admin)
    check.that(stored(kept) and download.status == 200 and download.body == PNG,
               "the file a form still holds is kept", download)


if __name__ == "__main__":
    e2e_lib.run("001-inspections", scenario)
