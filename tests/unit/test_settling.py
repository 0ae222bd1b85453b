"""Settling a batch's sends per document: a refusal of the record itself is handed to the caller
(after one resend, alone), anything else still raises, and a document's next record waits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, TopicAuthorizationFailedError

from ragstream.streams.delivery.settling import RECORD_REFUSALS, DocumentSends, Sent, delivered

pytestmark = pytest.mark.unit


class Broker:
    """Pending acks the test resolves by hand, and a record of what was sent again or refused."""

    def __init__(self, resend_error: BaseException | None = None) -> None:
        self.resend_error = resend_error
        self.resent: list[str] = []
        self.refused: list[tuple[str, str]] = []

    def sent(self, name: str, ack: asyncio.Future[Any], accepted: bool = True) -> Sent:
        async def resend() -> asyncio.Future[Any]:
            self.resent.append(name)
            again: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            if self.resend_error is None:
                again.set_result(f"{name} again")
            else:
                again.set_exception(self.resend_error)
            return again

        async def refused(error: BaseException) -> bool:
            self.refused.append((name, type(error).__name__))
            return False

        return Sent(ack=ack, resend=resend, refused=refused, accepted=accepted)


def future(result: Any = None, error: BaseException | None = None) -> asyncio.Future[Any]:
    f: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if error is not None:
        f.set_exception(error)
    else:
        f.set_result(result)
    return f


def test_only_refusals_of_the_record_itself_count() -> None:
    assert isinstance(MessageSizeTooLargeError(), RECORD_REFUSALS)
    # Not the record's fault: retried by processing the batch again, never a rejected command.
    assert not isinstance(KafkaTimeoutError(), RECORD_REFUSALS)
    assert not isinstance(TopicAuthorizationFailedError(), RECORD_REFUSALS)
    assert not isinstance(asyncio.CancelledError(), RECORD_REFUSALS)


async def test_a_durable_send_settles_with_its_own_outcome() -> None:
    broker, sends = Broker(), DocumentSends()
    sends.track(b"t/a", broker.sent("a", future("ok")))
    sends.track(b"t/b", broker.sent("b", future("ok"), accepted=False))  # a rejection, durable
    await sends.settle_all()
    assert sends.outcomes == [True, False]
    assert broker.resent == [] and broker.refused == []


async def test_a_record_refused_with_its_batch_goes_through_when_sent_again_alone() -> None:
    broker, sends = Broker(), DocumentSends()
    sends.track(b"t/a", broker.sent("a", future(error=MessageSizeTooLargeError())))
    await sends.settle(b"t/a")
    assert broker.resent == ["a"] and broker.refused == [] and sends.outcomes == [True]


async def test_a_record_refused_again_alone_is_handed_to_the_caller_as_not_accepted() -> None:
    broker, sends = Broker(resend_error=MessageSizeTooLargeError()), DocumentSends()
    sends.track(b"t/a", broker.sent("a", future(error=MessageSizeTooLargeError())))
    sends.track(b"t/b", broker.sent("b", future("ok")))
    await sends.settle_all()
    assert broker.refused == [("a", "MessageSizeTooLargeError")]
    assert sends.outcomes == [False, True]


@pytest.mark.parametrize("error", [KafkaTimeoutError(), TopicAuthorizationFailedError()])
async def test_other_send_errors_still_raise_so_the_batch_is_processed_again(error: Exception) -> None:
    broker, sends = Broker(), DocumentSends()
    sends.track(b"t/a", broker.sent("a", future(error=error)))
    with pytest.raises(type(error)):
        await sends.settle_all()
    assert broker.resent == [] and broker.refused == []


async def test_a_document_waits_for_its_own_previous_send_only() -> None:
    broker, sends = Broker(), DocumentSends()
    slow_a: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    sends.track(b"t/a", broker.sent("a", slow_a))
    sends.track(b"t/b", broker.sent("b", future("ok")))
    await sends.settle(b"t/b")  # another document: does not wait for a's ack
    assert sends.outcomes == [True]
    settling_a = asyncio.ensure_future(sends.settle(b"t/a"))
    await asyncio.sleep(0.01)
    assert not settling_a.done()  # a's next record would wait here
    slow_a.set_result("ok")
    await settling_a
    assert sends.outcomes == [True, True]
    await sends.settle(b"t/a")  # nothing left to settle for it
    assert sends.outcomes == [True, True]


async def test_a_document_cannot_have_two_unsettled_sends() -> None:
    broker, sends = Broker(), DocumentSends()
    sends.track(b"t/a", broker.sent("a", future("ok")))
    with pytest.raises(RuntimeError, match="before its last send was settled"):
        sends.track(b"t/a", broker.sent("a2", future("ok")))


async def test_the_chunk_and_embed_stages_see_a_refusal_only_after_a_resend_alone() -> None:
    """`delivered`, as the chunk and embed stages use it: they dead-letter what it raises of
    RECORD_REFUSALS and let anything else fail the batch."""
    broker = Broker(resend_error=MessageSizeTooLargeError())
    refused_twice = broker.sent("a", future(error=MessageSizeTooLargeError()))
    with pytest.raises(MessageSizeTooLargeError):
        await delivered(refused_twice.ack, refused_twice.resend)
    assert broker.resent == ["a"]

    through_alone = Broker().sent("b", future(error=MessageSizeTooLargeError()))
    await delivered(through_alone.ack, through_alone.resend)

    timed_out = broker.sent("c", future(error=KafkaTimeoutError()))
    with pytest.raises(KafkaTimeoutError):
        await delivered(timed_out.ack, timed_out.resend)
    assert broker.resent == ["a"]  # not sent again: the whole batch is processed again instead
