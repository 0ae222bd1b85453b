"""Names of the generations behind a server read model's alias (OpenSearch index alias, Qdrant
collection alias): `<alias>-g000001`, `<alias>-g000002`, ... A rebuild fills the next generation and
swaps the alias to it, so searches see the old or the new generation, never neither."""

from __future__ import annotations

import re

_DIGITS = 6
_GENERATION = re.compile(rf".+-g\d{{{_DIGITS}}}")


def generation_name(alias: str, number: int) -> str:
    return f"{alias}-g{number:0{_DIGITS}d}"


def is_generation(name: str) -> bool:
    """Whether `name` looks like a generation (`<alias>-g000001`) rather than an alias."""
    return _GENERATION.fullmatch(name) is not None


def generation_number(alias: str, name: str) -> int | None:
    prefix = f"{alias}-g"
    rest = name[len(prefix) :] if name.startswith(prefix) else ""
    return int(rest) if len(rest) == _DIGITS and rest.isdigit() else None
