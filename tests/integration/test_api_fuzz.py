"""Fuzz both APIs from their own OpenAPI specs (schemathesis): whatever the input, never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from ragstream.local.pipeline import LocalPipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def fuzz_every_operation(base_url: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    fuzzed = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def no_server_error(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error], timeout=60)

        no_server_error()
        fuzzed.append(f"{operation.method.upper()} {operation.path}")
    return fuzzed


def test_command_api_never_answers_with_a_server_error(pipeline: LocalPipeline) -> None:
    fuzzed = fuzz_every_operation(pipeline.command_url)
    assert {"POST /v1/documents", "DELETE /v1/documents/{document_id}"} <= set(fuzzed)


def test_query_api_never_answers_with_a_server_error(pipeline: LocalPipeline) -> None:
    fuzzed = fuzz_every_operation(pipeline.query_url)
    assert {"POST /v1/search", "POST /v1/answer"} <= set(fuzzed)
