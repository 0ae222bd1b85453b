"""Writing a faust table from a batch of events.

faust's tables choose a key's changelog partition from the event the stream iteration is on
(`faust.streams.current_event()`, which `Table.partition_for_key` reads), so the changelog stays
co-partitioned with the source topic. A batch from `event_batches` is taken in the agent's own task,
outside the stream iteration (the pump task's), where that context is unset and a write raises
"Cannot modify table key from outside of stream iteration". `written_from` sets it to the event the
new value came from, as faust/streams.py `Stream._set_current_event` does during iteration
(faust-streaming 0.15.x; `check.self_check` fails the worker at start-up if the context variable
is gone).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust import streams as faust_streams


@contextmanager
def written_from(event: Any) -> Iterator[None]:
    """Table writes inside the block are attributed to `event` (its topic and partition)."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)
