"""A sync session through a client generated from the served OpenAPI document, and nothing else.

Run by scripts/client-check with the generated package on PYTHONPATH:
    python3 scripts/client_scenario.py URL TOKEN
It pushes rows to two tables (the generic and a per-table endpoint), updates one column of a
row and checks that no other column changed, pulls, pages the changes feed by cursor,
registers a device and acknowledges the feed. Any mismatch raises.
"""

import datetime
import sys
import uuid

from syncgate_client import AuthenticatedClient
from syncgate_client.api.devices import ack, register_device
from syncgate_client.api.products import products_push, products_row
from syncgate_client.api.sync import changes, pull, push
from syncgate_client.models import (
    AckRequest,
    Action,
    DeviceRegistration,
    ProductsOperation,
    ProductsPatch,
    ProductsPatchCategory,
    ProductsPushRequest,
    PullRequest,
    PushOperation,
    PushOperationData,
    PushRequest,
)

url, token = sys.argv[1], sys.argv[2]
client = AuthenticatedClient(base_url=url, token=token, raise_on_unexpected_status=True)


def check(condition, message):
    if not condition:
        raise SystemExit(f"client scenario: {message}")


product = str(uuid.uuid4())
new = ProductsPatch(
    id=product, branch_id=1, sku="T-1", name="Tea", price="2.00", stock=50,
    category=ProductsPatchCategory.DRINK, active=True,
    updated_at=datetime.datetime(2026, 11, 28, 10, 0, tzinfo=datetime.timezone.utc),
)
outcome = products_push.sync(client=client, body=ProductsPushRequest(
    device_id="py-client", operations=[ProductsOperation(action=Action.INSERT, data=new, op_id="p-1")],
))
check(outcome.success and len(outcome.applied) == 1, f"per-table insert: {outcome}")

sale = PushOperationData.from_dict({
    "id": str(uuid.uuid4()), "branch_id": 1, "product_id": product, "quantity": 2,
    "unit_price": "2.00", "sold_at": "2026-11-28T10:01:00Z", "cashier": "ana",
})
outcome = push.sync(client=client, body=PushRequest(
    device_id="py-client", operations=[PushOperation(table="sales", action=Action.INSERT, data=sale, op_id="s-1")],
))
check(outcome.success and len(outcome.applied) == 1, f"generic insert: {outcome}")

# An update that names one column changes that column only.
before = products_row.sync(client=client, pk=product)
outcome = products_push.sync(client=client, body=ProductsPushRequest(
    device_id="py-client",
    operations=[ProductsOperation(action=Action.UPDATE, data=ProductsPatch(id=product, price="2.50"), op_id="p-2")],
))
check(outcome.success, f"update: {outcome}")
after = products_row.sync(client=client, pk=product)
check(after.price == "2.50", f"price not updated: {after}")
for column in ["sku", "name", "stock", "category", "active", "branch_id"]:
    check(getattr(after, column) == getattr(before, column),
          f"the update changed `{column}`: {getattr(before, column)!r} -> {getattr(after, column)!r}")

page = pull.sync(client=client, body=PullRequest(tables=["products", "sales"], limit=1))
check(page.success and page.has_more, f"pull: {page}")

seen, cursor = [], ""
while True:
    feed = changes.sync(client=client, cursor=cursor, limit=1)
    seen += [change.key for change in feed.changes]
    cursor = feed.cursor
    if not feed.has_more:
        break
# Each row once, ours among them (other sessions may have written to the same server).
check(len(seen) == len(set(seen)) and product in seen, f"changes feed: {seen}")

device = register_device.sync(client=client, body=DeviceRegistration(
    id="py-client", name="Python client", platform="script", app_version="1",
))
check(device.token.startswith("sgd_"), f"device: {device}")
acked = ack.sync(client=client, body=AckRequest(device_id="py-client", cursor=cursor))
check(acked.acked_cursor == cursor, f"ack: {acked}")
print("client scenario: ok")
