"""The malloc arena cap of the long-running services (glibc only)."""

from __future__ import annotations

import platform

import pytest

from ragstream.malloc import cap_malloc_arenas

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")


@glibc
def test_caps_the_arenas_when_the_operator_did_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert cap_malloc_arenas(2)


@glibc
def test_glibc_variable_set_by_the_operator_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert not cap_malloc_arenas(2)
