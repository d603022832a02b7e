"""backbone.delivery and AsyncProducer on a fake librdkafka: reports reach the event loop in one
wake-up per poll batch (or per sealed batch), errors keep their class and message, and flush/close
settle what is waiting even when the poll thread serves nothing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError

import backbone.kafka
from backbone.delivery import DeliveryBatch, OutcomeBatch, ReportQueue
from backbone.errors import PermanentError, RetryableError
from backbone.kafka import AsyncProducer


class FakeMessage:
    def __init__(self, topic: str, offset: int) -> None:
        self._topic, self._offset = topic, offset

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


class FakeProducer:
    """librdkafka stand-in: reports are served only when the test releases a poll, or by flush()."""

    def __init__(self, conf: dict[str, Any] | None = None) -> None:
        self.pending: list[tuple[Any, str, int]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.count = 0
        self.refuse: set[int] = set()  # produce() raises BufferError (local queue full)
        self.fail: dict[int, int] = {}  # message number -> KafkaError code in its delivery report

    def produce(self, topic: str, value: Any = None, key: Any = None, partition: int = -1, headers: Any = None,
                on_delivery: Any = None) -> None:
        number, self.count = self.count, self.count + 1
        if number in self.refuse:
            raise BufferError("queue full")
        with self.lock:
            self.pending.append((on_delivery, topic, number))

    def serve(self) -> int:
        with self.lock:
            batch, self.pending = self.pending, []
        for callback, topic, number in batch:
            code = self.fail.get(number)
            callback(None if code is None else KafkaError(code), FakeMessage(topic, number))
        return len(batch)

    def poll(self, timeout: float = 0.0) -> int:
        if self.release.wait(timeout):
            self.release.clear()
            return self.serve()
        return 0

    def flush(self, timeout: float = 0.0) -> int:
        self.serve()
        return 0


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AsyncProducer, FakeProducer]]:
    fakes: list[FakeProducer] = []

    def make(conf: dict[str, Any]) -> FakeProducer:
        fakes.append(FakeProducer(conf))
        return fakes[-1]

    monkeypatch.setattr(backbone.kafka, "Producer", make)
    producer = AsyncProducer({})
    yield producer, fakes[0]
    producer.close(0.1)


@pytest.fixture
async def wakeups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the callbacks our code handed to call_soon_threadsafe (asyncio's own are ignored)."""
    loop = asyncio.get_running_loop()
    original = loop.call_soon_threadsafe
    names: list[str] = []

    def spy(callback: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(callback, "__qualname__", "")
        if name.startswith(("ReportQueue.", "AckBatch.")):
            names.append(name)
        return original(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", spy)
    return names


async def test_one_wakeup_settles_a_whole_poll_batch(fake: tuple[AsyncProducer, FakeProducer],
                                                     wakeups: list[str]) -> None:
    producer, kafka = fake
    assert asyncio.get_running_loop().call_soon_threadsafe.__name__ == "spy"
    singles = [producer.send_nowait("out", b"v", b"k") for _ in range(50)]
    batch, _ = producer.send_many([("out", b"v", None, []) for _ in range(20)])
    kafka.release.set()  # one poll serves all 70 reports
    messages = await asyncio.wait_for(asyncio.gather(*singles), 5)
    assert [m.offset() for m in messages] == list(range(50))
    assert await asyncio.wait_for(batch, 5) == [None] * 20
    assert wakeups == ["ReportQueue._run"]  # not 70, not 51


async def test_one_failed_message_surfaces_with_its_class(fake: tuple[AsyncProducer, FakeProducer]) -> None:
    producer, kafka = fake
    kafka.refuse = {1, 12}
    kafka.fail = {0: KafkaError.MSG_SIZE_TOO_LARGE, 2: KafkaError._MSG_TIMED_OUT, 7: KafkaError.TOPIC_AUTHORIZATION_FAILED}
    too_large = producer.send_nowait("big", b"v")
    with pytest.raises(RetryableError, match="producer queue full"):
        producer.send_nowait("out", b"v")  # refused by produce() itself: raised at once
    timed_out = producer.send_nowait("slow", b"v")
    batch, _ = producer.send_many([("many", b"v", None, []) for _ in range(10)])  # numbers 3..12
    kafka.release.set()
    with pytest.raises(PermanentError) as refused:
        await asyncio.wait_for(too_large, 5)
    assert refused.value.context["topic"] == "big" and refused.value.context["code"] == "MSG_SIZE_TOO_LARGE"
    with pytest.raises(RetryableError):
        await asyncio.wait_for(timed_out, 5)
    outcomes = await asyncio.wait_for(batch, 5)
    assert isinstance(outcomes[4], PermanentError) and outcomes[4].context["topic"] == "many"
    assert isinstance(outcomes[9], RetryableError) and "queue full" in str(outcomes[9])
    assert [i for i, o in enumerate(outcomes) if o is not None] == [4, 9]


async def test_flush_settles_what_waits_while_the_poll_thread_serves_nothing(
    fake: tuple[AsyncProducer, FakeProducer],
) -> None:
    producer, _ = fake  # the poll is never released: only flush() serves reports
    single = producer.send_nowait("out", b"v")
    batch, _ = producer.send_many([("out", b"v", None, [])] * 3)
    await asyncio.sleep(0.12)
    assert not single.done() and not batch.done()
    assert producer.flush(1.0) == 0
    await asyncio.sleep(0)  # settled by flush's own wake-up, not the next poll (up to 50 ms later)
    assert single.done() and batch.done()
    assert (await asyncio.wait_for(single, 1)).offset() == 0
    assert await asyncio.wait_for(batch, 1) == [None] * 3


async def test_close_from_another_thread_settles_what_waits(fake: tuple[AsyncProducer, FakeProducer]) -> None:
    producer, _ = fake
    waiting = [producer.send_nowait("out", b"v") for _ in range(5)]
    batch, _ = producer.send_many([("out", b"v", None, [])] * 2)
    assert await asyncio.to_thread(producer.close, 1.0) == 0
    assert len(await asyncio.wait_for(asyncio.gather(*waiting), 1)) == 5
    assert await asyncio.wait_for(batch, 1) == [None, None]


async def test_empty_and_expired_outcome_batches(fake: tuple[AsyncProducer, FakeProducer]) -> None:
    producer, kafka = fake
    empty, _ = producer.send_many([])
    assert await asyncio.wait_for(empty, 1) == []
    future, expire = producer.send_many([("out", b"v", None, [])] * 2)
    expire()  # the backstop fires before any report
    answered = await future
    assert [type(o) for o in answered] == [TimeoutError, TimeoutError]
    kafka.release.set()
    await asyncio.sleep(0.2)
    assert [type(o) for o in answered] == [TimeoutError, TimeoutError]  # a late report changes nothing


async def test_report_queue_coalesces_wakeups_and_survives_a_closed_loop(wakeups: list[str]) -> None:
    queue, ran = ReportQueue(), []
    old = asyncio.new_event_loop()
    queue.bind(old)
    old.close()
    queue.call_soon(ran.append, "queued for a closed loop")
    queue.wake()  # no exception: nobody waits on a closed loop
    queue.bind(asyncio.get_running_loop())
    queue.call_soon(ran.append, 1)
    waker = threading.Thread(target=queue.wake)  # a poll thread; the loop does not run meanwhile
    waker.start()
    waker.join()
    queue.call_soon(ran.append, 2)
    queue.wake()  # the wake-up above has not run yet: it covers this call too
    assert wakeups == ["ReportQueue._run"]
    await asyncio.sleep(0.01)
    assert ran == ["queued for a closed loop", 1, 2]
    queue.wake()  # nothing queued: no wake-up
    queue.call_soon(ran.append, 3)
    queue.wake()
    await asyncio.sleep(0.01)
    assert ran[-1] == 3 and wakeups == ["ReportQueue._run"] * 2


async def test_delivery_batch_wakes_the_loop_once_after_its_last_ack(wakeups: list[str]) -> None:
    kafka = FakeProducer()
    batch = DeliveryBatch(kafka, asyncio.get_running_loop())  # type: ignore[arg-type]
    for _ in range(30):
        batch.send("out", b"v", None, [])
    waiting = asyncio.ensure_future(batch.wait())
    await asyncio.sleep(0)
    threading.Thread(target=kafka.serve).start()  # the producer's poll thread
    await asyncio.wait_for(waiting, 5)
    assert batch.offsets == {("out", 0): 29}
    assert wakeups == ["AckBatch._resolve"]


async def test_delivery_batch_raises_the_first_error_after_all_acks() -> None:
    kafka = FakeProducer()
    kafka.fail = {2: KafkaError.MSG_SIZE_TOO_LARGE, 5: KafkaError._MSG_TIMED_OUT}
    batch = DeliveryBatch(kafka, asyncio.get_running_loop())  # type: ignore[arg-type]
    for _ in range(8):
        batch.send("out", b"v", None, [])
    kafka.serve()
    with pytest.raises(PermanentError, match="refused"):
        await asyncio.wait_for(batch.wait(), 1)
    assert batch.offsets == {("out", 0): 7}


async def test_outcome_batch_resolves_only_when_sealed() -> None:
    loop = asyncio.get_running_loop()
    batch = OutcomeBatch(loop, 2)
    batch.add()
    batch.report(0, None)
    batch.reject(1, RetryableError("producer queue full"))
    future = batch.seal()  # everything queued was reported before sealing: resolves at once
    assert future.done() and future.result()[0] is None and isinstance(future.result()[1], RetryableError)


async def test_delivery_batch_is_not_done_before_it_is_sealed() -> None:
    kafka = FakeProducer()
    batch = DeliveryBatch(kafka, asyncio.get_running_loop())  # type: ignore[arg-type]
    batch.send("out", b"v", None, [])
    kafka.serve()  # every message so far acknowledged, but more are coming
    await asyncio.sleep(0.01)
    batch.send("out", b"v", None, [])
    waiting = asyncio.ensure_future(batch.wait())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    kafka.serve()
    await asyncio.wait_for(waiting, 1)
    assert batch.offsets == {("out", 0): 1}
