"""The outbox: written in the caller's transaction, delivered once, retried, never with an ID number."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from portal import clock
from portal.db import write_transaction
from portal.notify.outbox import (
    MAX_ATTEMPTS,
    deliver_pending,
    deliver_soon,
    queue_inapp,
    queue_sms,
    stop_delivery,
    unread_count,
    wait_delivered,
)
from portal.notify.tables import Outbox
from portal.plugin_api import SmsError, SmsSender

PHONE = "13800138000"


class Recorder:
    """A sender that remembers what it sent (and can be slow, or fail)."""

    def __init__(self, name: str = "recorder", delay: float = 0.0, fail: BaseException | None = None):
        self.name = name
        self.delay = delay
        self.fail = fail
        self.sent: list[tuple[str, str]] = []

    async def send(self, phone: str, text: str) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        self.sent.append((phone, text))

    def sender(self, order: int = 100) -> SmsSender:
        return SmsSender(name=self.name, send=self.send, order=order)


def target(app, *senders: SmsSender):
    """What deliver_pending accepts: something with the registry and the senders (like app.state)."""
    return SimpleNamespace(registry=app.state.registry, sms_senders=tuple(senders))


async def _queue(n: int = 1, kind: str = "test") -> list[int]:
    async with write_transaction():
        return [await queue_sms(PHONE, f"消息 {i}", kind=kind) for i in range(n)]


async def test_message_of_a_rolled_back_transaction_is_never_sent(app):
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="change failed"):
        async with write_transaction():
            await queue_sms(PHONE, "您的事项已受理。", kind="matter_accepted")
            raise RuntimeError("change failed")
    report = await deliver_pending(target(app, recorder.sender()))
    assert report.claimed == 0 and recorder.sent == []
    assert await Outbox.count() == 0


async def test_committed_message_is_sent_and_marked(app):
    recorder = Recorder()
    [row_id] = await _queue()
    report = await deliver_pending(target(app, recorder.sender()))
    assert report.sent == 1
    assert recorder.sent == [(PHONE, "消息 0")]
    row = await Outbox.select().where(Outbox.id == row_id).first()
    assert row["status"] == "sent" and row["attempts"] == 1 and row["sent_at"] is not None and row["last_error"] == ""
    # Nothing is sent twice.
    assert (await deliver_pending(target(app, recorder.sender()))).claimed == 0
    assert len(recorder.sent) == 1


async def test_queueing_needs_the_callers_transaction(app):
    with pytest.raises(RuntimeError, match="write_transaction"):
        await queue_sms(PHONE, "text", kind="test")
    with pytest.raises(RuntimeError, match="write_transaction"):
        await queue_inapp(body="text", kind="test", citizen=1)


@pytest.mark.parametrize(
    "body",
    [
        "请携带身份证11010519491231002X前来",
        "证件号 110105194912310021",
        "旧证 110105491231002",
    ],
)
async def test_messages_never_carry_an_id_number(app, body):
    with pytest.raises(ValueError, match="ID number"):
        async with write_transaction():
            await queue_sms(PHONE, body, kind="test")
    assert await Outbox.count() == 0


async def test_sms_needs_a_mobile_number_and_a_text(app):
    for phone, body in (("12345", "text"), ("010-12345678", "text"), (PHONE, "  ")):
        with pytest.raises(ValueError):
            async with write_transaction():
                await queue_sms(phone, body, kind="test")
    async with write_transaction():
        await queue_sms("+86 138-0013-8000", "tracking code GZQ2026000123 and 13900139000 are fine", kind="test")
    row = await Outbox.select(Outbox.phone).first()
    assert row["phone"] == PHONE


async def test_inapp_is_delivered_by_existing(app):
    async with write_transaction():
        with pytest.raises(ValueError):
            await queue_inapp(body="text", kind="test")
        with pytest.raises(ValueError):
            await queue_inapp(body="text", kind="test", citizen=1, staff=1)
        row_id = await queue_inapp(body="您有新的交办事项。", kind="matter_assigned", staff=1)
    row = await Outbox.select().where(Outbox.id == row_id).first()
    assert row["channel"] == "inapp" and row["status"] == "sent" and row["sent_at"] is not None and row["read_at"] is None
    assert await unread_count(staff=1) == 1
    recorder = Recorder()
    assert (await deliver_pending(target(app, recorder.sender()))).claimed == 0


async def test_concurrent_deliverers_send_each_row_once(app):
    ids = await _queue(40)
    recorder = Recorder(delay=0.002)
    sender = recorder.sender()

    async def worker():
        while (await deliver_pending(target(app, sender), limit=7)).claimed:
            pass

    await asyncio.gather(*(worker() for _ in range(4)))
    texts = [text for _phone, text in recorder.sent]
    assert sorted(texts) == sorted(f"消息 {i}" for i in range(40))
    assert len(texts) == len(set(texts)) == 40
    rows = await Outbox.select(Outbox.status, Outbox.attempts).where(Outbox.id.is_in(ids))
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in rows)


async def test_failure_is_retried_then_marked_failed(app):
    [row_id] = await _queue()
    broken = Recorder("operator", fail=SmsError("operator answered 503"))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = await deliver_pending(target(app, broken.sender()))
        row = await Outbox.select().where(Outbox.id == row_id).first()
        assert row["attempts"] == attempt
        assert row["last_error"] == "operator: operator answered 503"
        assert row["status"] == ("failed" if attempt == MAX_ATTEMPTS else "pending")
    assert report.failed == 1
    assert (await deliver_pending(target(app, broken.sender()))).claimed == 0


async def test_next_sender_takes_over_and_errors_keep_no_phone(app):
    [row_id] = await _queue()
    broken = Recorder("first", fail=RuntimeError(f"cannot reach operator for {PHONE}"))
    working = Recorder("second")
    report = await deliver_pending(target(app, broken.sender(order=1), working.sender(order=2)))
    assert report.sent == 1 and working.sent == [(PHONE, "消息 0")]
    row = await Outbox.select().where(Outbox.id == row_id).first()
    assert row["status"] == "sent"
    assert "first: RuntimeError" in row["last_error"] and PHONE not in row["last_error"] and "138****8000" in row["last_error"]


async def test_expired_sign_in_code_is_not_sent(app):
    [row_id] = await _queue(kind="sign_in_code")
    clock.travel(minutes=6)
    recorder = Recorder()
    report = await deliver_pending(target(app, recorder.sender()))
    assert report.failed == 1 and recorder.sent == []
    row = await Outbox.select().where(Outbox.id == row_id).first()
    assert row["status"] == "failed" and "expired" in row["last_error"]


async def test_deliver_soon_runs_after_the_commit_and_is_tracked(app):
    [row_id] = await _queue()
    task = deliver_soon(app)
    assert task in app.state.delivery_tasks
    await wait_delivered(app)
    assert not app.state.delivery_tasks
    row = await Outbox.select(Outbox.status).where(Outbox.id == row_id).first()
    assert row["status"] == "sent"  # by the development sender of this app


async def test_shutdown_cancels_a_hanging_delivery_and_the_row_is_never_resent(app):
    [row_id] = await _queue()
    hanging = Recorder("hanging", delay=3600)
    app.state.sms_senders = (hanging.sender(),)
    deliver_soon(app)
    await asyncio.sleep(0.05)
    await stop_delivery(app, timeout=0.1)
    assert not app.state.delivery_tasks
    assert deliver_soon(app) is None  # no new tasks after shutdown began
    row = await Outbox.select(Outbox.status).where(Outbox.id == row_id).first()
    assert row["status"] == "sending"
    # At most once: a row whose deliverer died is marked failed later, not sent again.
    clock.travel(hours=2)
    recorder = Recorder()
    await deliver_pending(target(app, recorder.sender()))
    assert recorder.sent == []
    row = await Outbox.select(Outbox.status, Outbox.last_error).where(Outbox.id == row_id).first()
    assert row["status"] == "failed" and "interrupted" in row["last_error"]


async def test_development_sender_logs_masked_phone(app, caplog):
    await _queue()
    with caplog.at_level(logging.INFO, logger="portal.notify"):
        await deliver_pending(app.state)
    messages = [record.getMessage() for record in caplog.records if record.name == "portal.notify"]
    assert any("138****8000" in m and "消息 0" in m for m in messages), messages
    assert not any(PHONE in m for m in messages)


async def test_deliver_pending_accepts_the_registry(app):
    await _queue()
    report = await deliver_pending(app.state.registry)
    assert report.sent == 1
