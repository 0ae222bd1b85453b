"""Log configuration: plain text (default) or one JSON object per line (RAGSTREAM_OBSERVABILITY__LOG_FORMAT=json).

Both formats add the current record's context (trace, command, document) from tracing.current(). The
formatters read it when the line is formatted, which happens synchronously in the task that logged,
so no filter or record factory has to survive the handler swaps faust and uvicorn do at start-up.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from ragstream.observability.tracing import current
from ragstream.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# LogRecord attributes that are not `extra=` fields, so everything else a caller passes is kept.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current().fields())
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class ContextTextFormatter(logging.Formatter):
    """The usual text line, with `[command_id=... document_id=... trace_id=...]` when there is context."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = current().fields()
        fields.pop("span_id", None)
        if not fields:
            return line
        head, sep, rest = line.partition("\n")
        return f"{head} [{' '.join(f'{k}={v}' for k, v in fields.items())}]{sep}{rest}"


def log_format(fmt: str | None = None) -> str:
    # Read afresh (not the cached settings): a process sets its format once, before logging starts.
    return fmt or Settings().observability.log_format


def logging_config(level: str | int = "INFO", fmt: str | None = None) -> dict[str, Any]:
    """A dictConfig for the root logger; also usable as faust's `logging_config` and uvicorn's
    `log_config`, whose own loggers are sent to the root handler so every line has one format."""
    formatter = (
        {"()": f"{__name__}.JsonFormatter"}
        if log_format(fmt) == "json"
        else {"()": f"{__name__}.ContextTextFormatter", "format": TEXT_FORMAT}
    )
    level_name = logging.getLevelName(level) if isinstance(level, int) else level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"ragstream": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "ragstream",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level_name, "handlers": ["default"]},
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(level: str | int = "INFO", fmt: str | None = None) -> None:
    logging.config.dictConfig(logging_config(level, fmt))
