"""The generated Python client on a schema with every column type (scripts/fixtures/all_types.toml):
a row with every type through the per-table push, one through the generic push, a one-column
update that leaves the others alone, pull, the changes feed by cursor, a device and an ack.
Run by `scripts/client-check all-types`."""

import datetime
import sys
import uuid

from syncgate_client import AuthenticatedClient
from client_common import check, finish_session
from syncgate_client.api.sync import push
from syncgate_client.api.things import things_push, things_row
from syncgate_client.models import (
    Action, PushOperation, PushOperationData, PushRequest, ThingsOperation, ThingsPatch,
    ThingsPatchKind, ThingsPushRequest,
)

client = AuthenticatedClient(base_url=sys.argv[1], token=sys.argv[2], raise_on_unexpected_status=True)


thing = str(uuid.uuid4())
row = ThingsPatch(
    id=thing, label="every type", count=3, ratio=0.5, amount="12.34", flag=True,
    seen_at=datetime.datetime(2026, 11, 28, 10, 0, tzinfo=datetime.timezone.utc),
    day=datetime.date(2026, 11, 28), kind=ThingsPatchKind.B,
)
row["extra"] = {"nested": [1, 2]}
outcome = things_push.sync(client=client, body=ThingsPushRequest(
    device_id="py-types", operations=[ThingsOperation(action=Action.INSERT, data=row, op_id="t-1")]))
check(outcome.success and len(outcome.applied) == 1, f"insert: {outcome}")
tag = PushOperationData.from_dict({"id": 7, "name": "seven"})
outcome = push.sync(client=client, body=PushRequest(
    device_id="py-types", operations=[PushOperation(table="tags", action=Action.INSERT, data=tag, op_id="g-1")]))
check(outcome.success, f"generic insert: {outcome}")

before = things_row.sync(client=client, pk=thing)
outcome = things_push.sync(client=client, body=ThingsPushRequest(
    device_id="py-types", operations=[ThingsOperation(action=Action.UPDATE, data=ThingsPatch(id=thing, count=4), op_id="t-2")]))
check(outcome.success, f"update: {outcome}")
after = things_row.sync(client=client, pk=thing)
check(after.count == 4, f"count: {after}")
for column in ["label", "ratio", "amount", "flag", "seen_at", "day", "kind", "extra"]:
    check(str(getattr(after, column)) == str(getattr(before, column)), f"the update changed `{column}`")
finish_session(client, ["things", "tags"], thing, "py-types")
print("client scenario (every type): ok")
