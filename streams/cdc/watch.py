"""How the mapped CDC connectors are doing, as Kafka Connect reports them (for notifications)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ragstream.streams.cdc.connect import ConnectClient
from ragstream.streams.cdc.mapping import CdcMapping

# (connector, the mapping's tenant when it is a constant, state, trace of a failure)
ConnectorReport = tuple[str, str | None, str, str]


def connector_state(status: Mapping[str, Any]) -> tuple[str, str]:
    """FAILED (with the trace) when the connector or any of its tasks failed, else its own state."""
    connector = status.get("connector") or {}
    if connector.get("state") == "FAILED":
        return "FAILED", str(connector.get("trace", ""))
    for task in status.get("tasks") or []:
        if task.get("state") == "FAILED":
            return "FAILED", str(task.get("trace", ""))
    return str(connector.get("state", "UNKNOWN")), ""


def connector_reports(url: str, mappings: Sequence[CdcMapping]) -> list[ConnectorReport]:
    """Each mapping's connector; MISSING when Connect has none of that name. Blocking (run it in a
    thread); raises ConnectError when Kafka Connect cannot be asked."""
    with ConnectClient(url, attempts=1) as client:
        statuses = client.statuses()
    reports: list[ConnectorReport] = []
    for mapping in mappings:
        status = statuses.get(mapping.name)
        state, trace = connector_state(status) if status else ("MISSING", "")
        reports.append((mapping.name, mapping.document.tenant.constant, state, trace))
    return reports
