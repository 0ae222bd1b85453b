"""Fuzz both APIs from their own OpenAPI specs (schemathesis): whatever the input, never a 5xx, with
authentication off (the dev profile) and on (with a key holding every scope, and with none)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from ragstream.auth import SCOPES
from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import Settings
from tests.conftest import unique_tag
from tests.integration.helpers import secured_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def fuzz_every_operation(base_url: str, headers: dict[str, str] | None = None) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    fuzzed = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def no_server_error(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error], timeout=60)

        no_server_error()
        fuzzed.append(f"{operation.method.upper()} {operation.path}")
    return fuzzed


# A fuzzed wait for a write that never comes ends after a second, not after the default minute.
QUICK_WAITS = {"RAGSTREAM_NOTIFICATIONS__EVENTS_TIMEOUT_S": "1"}


@pytest.fixture(scope="module")
def pipeline_env(pipeline_env: dict[str, str]) -> dict[str, str]:
    return {**pipeline_env, **QUICK_WAITS}


@pytest.fixture(scope="module")
def secured(
    local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalPipeline, str]]:
    tag = unique_tag("fz")
    grants = {"fuzz": ("acme", sorted(SCOPES))}
    with secured_pipeline(tag, Path(tmp_path_factory.mktemp(tag)), grants, **QUICK_WAITS) as (pipeline, keys):
        yield pipeline, keys["fuzz"]


def test_command_api_never_answers_with_a_server_error(pipeline: LocalPipeline) -> None:
    fuzzed = fuzz_every_operation(pipeline.command_url)
    assert {"POST /v1/documents", "DELETE /v1/documents/{document_id}"} <= set(fuzzed)


def test_query_api_never_answers_with_a_server_error(pipeline: LocalPipeline) -> None:
    fuzzed = fuzz_every_operation(pipeline.query_url)
    assert {"POST /v1/search", "POST /v1/answer", "POST /v1/webhooks", "POST /v1/templates"} <= set(fuzzed)


@pytest.mark.parametrize("with_key", [True, False], ids=["key", "no-key"])
def test_both_apis_with_auth_on_never_answer_with_a_server_error(
    secured: tuple[LocalPipeline, str], with_key: bool
) -> None:
    pipeline, key = secured
    headers = {"X-API-Key": key} if with_key else None
    commands = fuzz_every_operation(pipeline.command_url, headers)
    queries = fuzz_every_operation(pipeline.query_url, headers)
    assert {"POST /v1/documents", "GET /v1/whoami"} <= set(commands)
    assert {"POST /v1/search", "POST /v1/admin/replay", "GET /v1/admin/query-log"} <= set(queries)
