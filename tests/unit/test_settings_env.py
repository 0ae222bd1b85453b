"""Settings from the environment: the stack section tolerates the variables only its shell scripts
read; every other section still refuses a name it does not know (a typo must not pass silently)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ragstream.settings import Settings

pytestmark = pytest.mark.unit


def test_variables_for_the_stack_scripts_do_not_break_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGSTREAM_STACK__CONNECT_GROUP", "second-connect")
    monkeypatch.setenv("RAGSTREAM_STACK__KAFKA_HEAP", "1g")
    monkeypatch.setenv("RAGSTREAM_STACK__KAFKA_PORT", "29092")
    assert Settings().stack.kafka_port == 29092


def test_an_unknown_name_in_another_section_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGSTREAM_KAFKA__PARTITONS", "2")
    with pytest.raises(ValidationError, match="partitons"):
        Settings()
