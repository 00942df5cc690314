"""What every generated-client scenario (scripts/client_scenario*.py) does after its writes:
pull, page the changes feed by cursor, register a device and acknowledge the feed, through the
generated client alone. Only generic endpoints, so it serves every schema."""

from syncgate_client.api.devices import ack, register_device
from syncgate_client.api.sync import changes, pull
from syncgate_client.models import AckRequest, DeviceRegistration, PullRequest


def check(condition, message):
    if not condition:
        raise SystemExit(f"client scenario: {message}")


def finish_session(client, tables, key, device_id):
    """Pulls `tables` a row at a time, pages the feed (each row once, `key` among them), and
    registers and acknowledges device `device_id`."""
    page = pull.sync(client=client, body=PullRequest(tables=tables, limit=1))
    check(page.success and page.has_more, f"pull: {page}")
    seen, cursor = [], ""
    while True:
        feed = changes.sync(client=client, cursor=cursor, limit=1)
        seen += [change.key for change in feed.changes]
        cursor = feed.cursor
        if not feed.has_more:
            break
    # Each row once, ours among them (other sessions may have written to the same server).
    check(len(seen) == len(set(seen)) and key in seen, f"changes feed: {seen}")
    device = register_device.sync(client=client, body=DeviceRegistration(
        id=device_id, name="generated client", platform="script", app_version="1"))
    check(device.token.startswith("sgd_"), f"device: {device}")
    acked = ack.sync(client=client, body=AckRequest(device_id=device_id, cursor=cursor))
    check(acked.acked_cursor == cursor, f"ack: {acked}")
