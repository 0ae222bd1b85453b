"""The delivery layer refuses to start on libraries it was not written for."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from faust import streams
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from ragstream.exceptions import ConfigurationError
from ragstream.streams.delivery import check, written_from

pytestmark = pytest.mark.unit


def test_the_locked_libraries_have_everything_the_fixes_patch() -> None:
    assert check.problems() == []
    check.self_check()


def test_a_missing_patched_attribute_stops_the_worker_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(AIOKafkaConsumerThread, "seek_to_committed")
    with pytest.raises(ConfigurationError, match=r"AIOKafkaConsumerThread\.seek_to_committed is missing"):
        check.self_check()


def test_another_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = check.metadata.version
    monkeypatch.setattr(
        check.metadata, "version", lambda name: "0.16.0" if name == "faust-streaming" else real(name)
    )
    with pytest.raises(ConfigurationError, match=r"faust-streaming 0\.16\.0 is installed.*0\.15\.x"):
        check.self_check()


def test_a_gone_stream_context_stops_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(streams, "_current_event")
    with pytest.raises(ConfigurationError, match=r"faust\.streams\._current_event"):
        check.self_check()


class _Event:  # faust keeps a weak reference to the current event
    def __init__(self, message: SimpleNamespace) -> None:
        self.message = message


def test_table_writes_from_a_batch_go_to_the_partition_of_the_event_they_came_from() -> None:
    # What faust's Table.partition_for_key reads: outside a stream iteration there is no event.
    event = _Event(SimpleNamespace(topic="commands", partition=3))
    assert streams.current_event() is None
    with written_from(event):
        assert streams.current_event() is event
        with written_from(_Event(SimpleNamespace(topic="commands", partition=0))):
            assert streams.current_event() is not event
        assert streams.current_event() is event
    assert streams.current_event() is None
