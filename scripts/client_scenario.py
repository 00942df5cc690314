"""A sync session through a client generated from the served OpenAPI document, and nothing else.

Run by scripts/client-check with the generated package on PYTHONPATH:
    python3 scripts/client_scenario.py URL TOKEN CASHIER_TOKEN
It pushes rows to two tables (the generic and a per-table endpoint), updates one column of a
row and checks that no other column changed, has a branch-1 cashier (CASHIER_TOKEN) hold the
product and apply its move-out when the product moves to branch 2, pulls, pages the changes feed
by cursor, registers a device and acknowledges the feed. Any mismatch raises.
"""

import datetime
import sys
import uuid

from syncgate_client import AuthenticatedClient
from client_common import check, finish_session
from syncgate_client.api.products import products_changes, products_push, products_row
from syncgate_client.api.sync import push
from syncgate_client.types import Unset
from syncgate_client.models import (
    Action,
    ProductsOperation,
    ProductsPatch,
    ProductsPatchCategory,
    ProductsPushRequest,
    PushOperation,
    PushOperationData,
    PushRequest,
)

url, token = sys.argv[1], sys.argv[2]
client = AuthenticatedClient(base_url=url, token=token, raise_on_unexpected_status=True)


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

# A move-out: a branch-1 cashier's copy, kept from the typed per-table feed alone, loses the
# product when it moves to branch 2, through a removal that carries no row.
cashier = AuthenticatedClient(base_url=url, token=sys.argv[3], raise_on_unexpected_status=True)
held = {}


def read_on(cursor):
    removals = []
    while True:
        page = products_changes.sync(client=cashier, cursor=cursor, limit=1000)
        for change in page.changes:
            if change.removed is True:
                removals.append(change)
            if change.deleted:
                held.pop(str(change.key), None)
            else:
                held[str(change.key)] = change.row
        cursor = page.cursor
        if not page.has_more:
            return cursor, removals


cursor, _ = read_on("")
check(product in held and held[product].price == "2.50", f"the cashier holds the product: {held}")
outcome = products_push.sync(client=client, body=ProductsPushRequest(
    device_id="py-client",
    operations=[ProductsOperation(action=Action.UPDATE, data=ProductsPatch(id=product, branch_id=2), op_id="p-3")],
))
check(outcome.success, f"move to branch 2: {outcome}")
cursor, removals = read_on(cursor)
check(len(removals) == 1 and str(removals[0].key) == product and isinstance(removals[0].row, Unset),
      f"one removal of the product, without its row: {removals}")
check(product not in held, f"the cashier's copy dropped the product: {held}")

finish_session(client, ["products", "sales"], product, "py-client")
print("client scenario: ok")
