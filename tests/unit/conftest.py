"""Unit tests read no settings from the developer's shell: a `RAGSTREAM_<SECTION>__<FIELD>`
exported for the local stack (another registry port, a Connect group) must not change what a unit
test expects of the defaults."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ragstream.settings import get_settings


@pytest.fixture(autouse=True)
def no_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [n for n in os.environ if n.startswith("RAGSTREAM_") and "__" in n]:
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
