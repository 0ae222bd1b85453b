"""How every command reports: exit codes, errors, `--json`, and tables that fit the terminal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

import typer
from pydantic import ValidationError
from pydantic_core import to_jsonable_python
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from ragstream.client.errors import (
    ApiError,
    BadRequest,
    BodyTooLarge,
    ClientError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unreachable,
)
from ragstream.client.profiles import ProfileError

console = Console()
errors = Console(stderr=True)
JSON_KEY = "ragstream.json"  # in the context's meta: whether --json was given
HINT_KEY = "ragstream.hint"  # in the context's meta: where the credential came from, for errors


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2  # also: an API could not be reached
    NOT_FOUND = 3
    FORBIDDEN = 4  # also: no or a wrong credential
    RATE_LIMITED = 5


EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 error, 2 usage or an API unreachable, 3 not found, 4 forbidden or"
    " unauthenticated, 5 rate limited or over quota."
)


class InvalidInput(ClientError):
    """A request the API's own model refuses, found by the SDK before anything is sent."""

    @classmethod
    def of(cls, exc: ValidationError) -> InvalidInput:
        first = exc.errors(include_url=False)[0]
        return cls(f"invalid request: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")


def exit_code(error: ClientError) -> ExitCode:
    if isinstance(
        error, Unreachable | ProfileError | InvalidInput | BadRequest | InvalidRequest | BodyTooLarge
    ):
        return ExitCode.USAGE
    if isinstance(error, NotFound):
        return ExitCode.NOT_FOUND
    if isinstance(error, Forbidden | Unauthenticated):
        return ExitCode.FORBIDDEN
    if isinstance(error, RateLimited):
        return ExitCode.RATE_LIMITED
    return ExitCode.ERROR


def _hint(error: ClientError, source: str) -> str:
    if isinstance(error, Unauthenticated):
        return "set RAGSTREAM_API_KEY (or RAGSTREAM_TOKEN), or store a key with `ragstream login`"
    if isinstance(error, Forbidden) and source:
        return f"the credential comes from {source}; `ragstream whoami` shows its tenant and scopes"
    if isinstance(error, Unreachable):
        return "is it running? give --url, RAGSTREAM_QUERY_URL/RAGSTREAM_COMMAND_URL or a profile"
    return ""


def report_error(error: ClientError, *, as_json: bool, source: str = "") -> ExitCode:
    """Says what went wrong on stderr (as JSON with --json) and returns the exit code."""
    code = exit_code(error)
    hint = _hint(error, source)
    if as_json:
        body: dict[str, Any] = {"error": str(error), "exit_code": int(code)}
        if isinstance(error, ApiError):
            body["problem"] = error.problem
        typer.echo(json.dumps(body), err=True)
    else:
        errors.print(Text(f"error: {error}", style="red"), soft_wrap=True)
        if hint:
            errors.print(Text(f"hint: {hint}", style="dim"), soft_wrap=True)
    return code


class CliGroup(TyperGroup):
    """The root command: an SDK error anywhere below becomes a message and its exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context
        try:
            return super().invoke(ctx)
        except (ClientError, ValidationError) as exc:
            error = exc if isinstance(exc, ClientError) else InvalidInput.of(exc)
            code = report_error(
                error, as_json=bool(ctx.meta.get(JSON_KEY)), source=str(ctx.meta.get(HINT_KEY, ""))
            )
            raise typer.Exit(code) from exc


def _remember_json(ctx: typer.Context, value: bool) -> bool:
    ctx.meta[JSON_KEY] = value
    return value


def json_option(help: str = "Print JSON (one document) instead of text.") -> Any:
    return typer.Option(False, "--json", help=help, callback=_remember_json)


def emit(data: Any) -> None:
    """One JSON document (or one line of a JSON-lines stream) on stdout."""
    typer.echo(json.dumps(to_jsonable_python(data), ensure_ascii=False))


@dataclass(frozen=True)
class Col:
    """A table column. Wide tables drop their lowest-priority columns first (and say which), and
    only `wrap` columns wrap, so what is shown is never cut to a few letters."""

    header: str
    priority: int = 5
    wrap: bool = False
    min_width: int = 12
    justify: Literal["left", "right"] = "left"


# What rich's default table spends around each column: padding of one each side and a rule.
_PER_COLUMN = 3


def _width(cell: RenderableType) -> int:
    if isinstance(cell, Text):
        return max((len(line) for line in cell.plain.splitlines()), default=0)
    text = Text.from_markup(cell) if isinstance(cell, str) else Text(str(cell))
    return max((len(line) for line in text.plain.splitlines()), default=0)


def fit_columns(cols: Sequence[Col], rows: Sequence[Sequence[RenderableType]], width: int) -> list[int]:
    """Indexes of the columns to show within `width`: every one if they fit, else without the
    lowest-priority ones (the rightmost first among equals). A wrapping column needs only its
    `min_width`; the others need their widest cell."""
    needed = []
    for i, col in enumerate(cols):
        natural = max([len(col.header), *(_width(row[i]) for row in rows)])
        needed.append(min(natural, max(col.min_width, len(col.header))) if col.wrap else natural)
    kept = list(range(len(cols)))
    by_value = sorted(kept, key=lambda i: (cols[i].priority, -i))
    while len(kept) > 1 and sum(needed[i] + _PER_COLUMN for i in kept) + 1 > width:
        kept.remove(by_value.pop(0))
    return kept


def print_table(
    cols: Sequence[Col],
    rows: Sequence[Sequence[RenderableType]],
    *,
    title: str | None = None,
    out: Console | None = None,
    width: int | None = None,
) -> None:
    target = out or console
    table, hidden = fitted_table(cols, rows, width or target.width, title=title)
    target.print(table)
    if hidden:
        target.print(
            Text(f"(left out to fit the terminal: {', '.join(hidden)}; --json has every field)", "dim")
        )


def fitted_table(
    cols: Sequence[Col], rows: Sequence[Sequence[RenderableType]], width: int, *, title: str | None = None
) -> tuple[Table, list[str]]:
    """The table with the columns that fit `width`, and the headers of those left out."""
    kept = fit_columns(cols, rows, width)
    table = Table(title=title, title_justify="left", title_style="bold")
    for i in kept:
        col = cols[i]
        table.add_column(
            col.header, no_wrap=not col.wrap, overflow="fold" if col.wrap else "ellipsis", justify=col.justify
        )
    for row in rows:
        table.add_row(*(row[i] for i in kept))
    return table, [cols[i].header for i in range(len(cols)) if i not in kept]
