from __future__ import annotations

from opencsms.chargepoint.offline_queue import OfflineQueue


def test_order_and_transaction_id_fixup() -> None:
    queue = OfflineQueue()
    learned: list[object] = []
    queue.put(
        "StartTransaction",
        {"connectorId": 1, "timestamp": "t0"},
        local_tx=-1,
        on_reply=learned.append,
    )
    queue.put("MeterValues", {"transactionId": -1, "timestamp": "t1"}, local_tx=-1)
    queue.put("StopTransaction", {"transactionId": -1, "timestamp": "t2"}, local_tx=-1)
    head = queue.head()
    assert head is not None and queue.outgoing(head)["timestamp"] == "t0"
    queue.delivered({"transactionId": 42, "idTagInfo": {"status": "Accepted"}})
    assert learned == [{"transactionId": 42, "idTagInfo": {"status": "Accepted"}}]
    sent = []
    while (message := queue.head()) is not None:
        sent.append((message.action, queue.outgoing(message)))
        queue.delivered({})
    assert sent == [
        ("MeterValues", {"transactionId": 42, "timestamp": "t1"}),
        ("StopTransaction", {"transactionId": 42, "timestamp": "t2"}),
    ]


def test_volatile_messages_forgotten_on_disconnect() -> None:
    queue = OfflineQueue()
    replies: list[object] = []
    queue.put("StatusNotification", {}, persistent=False, on_reply=replies.append)
    queue.put("StartTransaction", {}, local_tx=-1)
    queue.put("Heartbeat", {}, persistent=False)
    gone = queue.forget_volatile()
    assert [m.action for m in gone] == ["StatusNotification", "Heartbeat"]
    assert replies == [None]
    assert [m.action for m in queue] == ["StartTransaction"]


def test_capacity_drops_meter_values_before_billing_facts() -> None:
    queue = OfflineQueue(capacity=3)
    queue.put("StartTransaction", {}, local_tx=-1)
    queue.put("MeterValues", {"n": 1}, local_tx=-1)
    queue.put("MeterValues", {"n": 2}, local_tx=-1)
    queue.put("StopTransaction", {}, local_tx=-1)
    assert [m.action for m in queue] == ["StartTransaction", "MeterValues", "StopTransaction"]
    assert [m.payload for m in queue][1] == {"n": 2}
    assert queue.dropped == 1
