"""The outbox: written in the caller's transaction, delivered once, retried, never with an ID number."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from types import SimpleNamespace

import pytest

from portal import clock
from portal.db import write_transaction
from portal.jobs.runner import run_job
from portal.notify import outbox as outbox_module
from portal.notify.outbox import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
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


async def test_failure_is_retried_with_back_off_then_marked_failed(app):
    [row_id] = await _queue()
    broken = Recorder("operator", fail=SmsError("operator answered 503"))
    waits = [dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30)]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = await deliver_pending(target(app, broken.sender()))
        assert report.claimed == 1
        row = await Outbox.select().where(Outbox.id == row_id).first()
        assert row["attempts"] == attempt
        assert row["last_error"] == "operator: operator answered 503"
        if attempt == MAX_ATTEMPTS:
            assert row["status"] == "failed" and row["next_attempt_at"] is None
            break
        assert row["status"] == "pending"
        wait = waits[attempt - 1]
        assert abs(row["next_attempt_at"] - (clock.now() + wait)) < dt.timedelta(seconds=5)
        # Not before its time: a pass a moment before the back-off ends leaves the row alone.
        clock.travel(seconds=wait.total_seconds() - 5)
        assert (await deliver_pending(target(app, broken.sender()))).claimed == 0
        clock.travel(seconds=6)
    assert report.failed == 1
    clock.travel(hours=2)
    assert (await deliver_pending(target(app, broken.sender()))).claimed == 0
    assert len(RETRY_DELAYS) == MAX_ATTEMPTS - 1


async def test_retry_job_delivers_a_row_once_its_back_off_passed(app):
    [row_id] = await _queue()
    broken = Recorder("operator", fail=SmsError("operator answered 503"))
    await deliver_pending(target(app, broken.sender()))
    working = Recorder("operator")
    app.state.sms_senders = (working.sender(),)
    registry = app.state.registry
    outcome = await run_job(registry, "notify.retry", force=True, state=app.state)
    assert outcome.ran and outcome.status == "ok" and working.sent == []  # still waiting
    clock.travel(minutes=1, seconds=1)
    outcome = await run_job(registry, "notify.retry", force=True, state=app.state)
    assert outcome.ran and "sent=1" in outcome.result
    assert working.sent == [(PHONE, "消息 0")]
    row = await Outbox.select(Outbox.status, Outbox.attempts, Outbox.next_attempt_at).where(Outbox.id == row_id).first()
    assert row == {"status": "sent", "attempts": 2, "next_attempt_at": None}


async def test_one_delivery_task_per_app_and_a_call_while_it_runs_asks_for_one_more_pass(app):
    gate = asyncio.Event()  # the first message is "sending" until the 32 requests are done
    slow = Recorder("slow")

    async def send(phone: str, text: str) -> None:
        if text == "消息 0":
            await gate.wait()
        await slow.send(phone, text)

    app.state.sms_senders = (SmsSender(name="slow", send=send),)
    passes = []
    original = outbox_module.deliver_pending

    async def counting(target_, limit=50):
        passes.append(limit)
        return await original(target_, limit=limit)

    outbox_module.deliver_pending = counting
    try:
        await _queue(1)
        first = deliver_soon(app)
        while not passes:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # the first pass has claimed its row and is sending it
        for i in range(32):  # 32 requests commit while it runs
            async with write_transaction():
                await queue_sms(PHONE, f"请求 {i}", kind="test")
            assert deliver_soon(app) is first
        assert len(app.state.delivery_tasks) == 1
        gate.set()
        await wait_delivered(app)
    finally:
        outbox_module.deliver_pending = original
    assert len(passes) == 2  # the first, and one more for everything queued meanwhile
    assert len(slow.sent) == 33 and await Outbox.count().where(Outbox.status == "sent") == 33
    # After it ends, the next call starts a new task.
    await _queue(1)
    task = deliver_soon(app)
    assert task is not first
    await wait_delivered(app)
    assert len(slow.sent) == 34


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
