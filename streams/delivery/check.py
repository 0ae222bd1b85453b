"""Start-up self-check of the delivery layer: the versions it was written for, and every faust and
aiokafka attribute it patches or calls, so a changed library fails the worker at once with a clear
message instead of silently losing messages."""

from __future__ import annotations

import inspect
from contextvars import ContextVar
from importlib import metadata

from ragstream.exceptions import ConfigurationError

# The versions the workarounds were written and tested against (pinned in pyproject.toml).
SUPPORTED = {"faust-streaming": "0.15.", "aiokafka": "0.14.", "mode-streaming": "0.7."}


def _has_attribute_assigned(cls: type, method: str, attribute: str) -> bool:
    """Whether `cls.method` assigns or reads `self.<attribute>` (its code names it); faust's own
    method, even once a fix wraps it."""
    function = getattr(cls, method, None)
    code = getattr(inspect.unwrap(function) if function is not None else None, "__code__", None)
    return code is not None and attribute in code.co_names


def problems() -> list[str]:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.consumer.subscription_state import TopicPartitionState
    from faust import App
    from faust.transport.consumer import Consumer
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
    from mode.threads import QueueServiceThread

    found = []
    for package, prefix in SUPPORTED.items():
        version = metadata.version(package)
        if not version.startswith(prefix):
            found.append(f"{package} {version} is installed; the delivery layer supports {prefix}x only")
    # Replaced by the fixes: defined by these very classes (not inherited), or the fix misses them.
    replaced = [
        (Consumer, "perform_seek"),
        (AIOKafkaConsumerThread, "seek_to_committed"),
        (AIOKafkaConsumerThread, "verify_event_path"),
    ]
    found += [
        f"{cls.__module__}.{cls.__name__}.{name} is missing"
        for cls, name in replaced
        if name not in vars(cls)
    ]
    needed = [
        (Consumer, "seek"),
        (Consumer, "highwaters"),
        (Consumer, "assignment"),
        (AIOKafkaConsumerThread, "_ensure_consumer"),
        (QueueServiceThread, "call_thread"),
        (AIOKafkaConsumer, "seek_to_committed"),
        (AIOKafkaConsumer, "seek_to_beginning"),
        (AIOKafkaConsumer, "committed"),
        (App, "consumer_generation_id"),
    ]
    found += [
        f"{cls.__module__}.{cls.__name__}.{name} is missing" for cls, name in needed if not hasattr(cls, name)
    ]
    if not isinstance(getattr(TopicPartitionState, "has_valid_position", None), property):
        found.append("aiokafka TopicPartitionState.has_valid_position is gone")
    for attribute in ("_read_offset", "_committed_offset"):
        if not _has_attribute_assigned(Consumer, "__init__", attribute):
            found.append(f"faust Consumer.__init__ no longer sets self.{attribute}")
    if not _has_attribute_assigned(Consumer, "_drain_messages", "_read_offset"):
        found.append("faust Consumer._drain_messages no longer reads self._read_offset")
    from faust import streams

    if not isinstance(getattr(streams, "_current_event", None), ContextVar):
        found.append("faust.streams._current_event (the stream iteration's event) is gone")
    return found


def self_check() -> None:
    """Raises ConfigurationError naming every mismatch; the worker must not start with one."""
    found = problems()
    if found:
        raise ConfigurationError(
            "the stream worker's delivery fixes do not fit the installed libraries"
            " (see ragstream/streams/delivery/patches.py):\n  " + "\n  ".join(found)
        )
