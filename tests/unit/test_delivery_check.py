"""The delivery layer refuses to start on libraries it was not written for."""

from __future__ import annotations

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from ragstream.exceptions import ConfigurationError
from ragstream.streams.delivery import check

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
