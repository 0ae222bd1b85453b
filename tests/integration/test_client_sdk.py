"""The HTTP SDK (ragstream.client), sync and async, against the real command and query APIs with
authentication on, a stream worker and tenant keys: writes that wait until searchable, reads,
answers (streamed too), typed errors, and retries that honour Retry-After."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragstream.client import (
    NO_RETRIES,
    AnswerCitations,
    AnswerDelta,
    AsyncClient,
    Client,
    DocumentIn,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    RetryPolicy,
    SearchIn,
    Unauthenticated,
    Unreachable,
)
from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import PROJECT_ROOT, Settings
from tests.conftest import unique_tag
from tests.integration.helpers import secured_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TYPE = "https://ragstream.dev/problems/"
README = PROJECT_ROOT / "README.md"


@pytest.fixture(scope="module")
def secured(
    local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalPipeline, dict[str, str]]]:
    tag = unique_tag("sdk")
    grants = {"app": ("acme", ["read", "write"]), "globex": ("globex", ["read", "write"])}
    with secured_pipeline(
        tag, Path(tmp_path_factory.mktemp(tag)), grants, workers=1, principals={"app": ["group:eng"]}
    ) as running:
        yield running


def client_for(secured: tuple[LocalPipeline, dict[str, str]], key: str, **options: object) -> Client:
    pipeline, keys = secured
    return Client(pipeline.query_url, pipeline.command_url, api_key=keys[key], **options)  # type: ignore[arg-type]


def test_a_write_is_searchable_once_waited_for_and_reads_are_typed(
    secured: tuple[LocalPipeline, dict[str, str]],
) -> None:
    with client_for(secured, "app") as client:
        me = client.whoami()
        assert (me.subject, me.tenant, me.principals, me.scopes) == (
            "key:app",
            "acme",
            ["group:eng"],
            ["read", "write"],
        )
        written = client.upsert([
            DocumentIn(document_id="sdk/volcano", title="Volcanoes", content="Cooled lava forms basalt rock.",
                       acl=["group:eng"], metadata={"topic": "geology"}),
            DocumentIn(document_id="sdk/payroll", title="Payroll", content="Basalt bonuses are paid in May.",
                       acl=["group:hr"]),
        ]).wait_searchable(timeout_s=180)  # fmt: skip
        assert [c.document_id for c in written.commands] == ["sdk/volcano", "sdk/payroll"]
        assert written.consistency_token

        hits = client.search("basalt", mode="bm25").hits
        assert [h.document_id for h in hits] == ["sdk/volcano"]  # the key's principals see no payroll
        assert hits[0].metadata == {"topic": "geology"} and hits[0].scores.bm25_rank == 1
        assert client.search(SearchIn(query="basalt", mode="bm25", offset=1)).hits == []

        answer = client.answer("What rock does cooled lava form?", passages=2)
        assert answer.grounded and answer.citations[0].document_id == "sdk/volcano"

        streamed = list(client.stream_answer("What rock does cooled lava form?", passages=2))
        assert isinstance(streamed[0], AnswerDelta) and isinstance(streamed[-1], AnswerCitations)
        text = "".join(e.text for e in streamed if isinstance(e, AnswerDelta))
        assert "[1]" in text and streamed[-1].citations[0].document_id == "sdk/volcano"


def test_access_changes_and_deletes_wait_too_and_the_history_says_who(
    secured: tuple[LocalPipeline, dict[str, str]],
) -> None:
    with client_for(secured, "app") as client:
        client.upsert(
            DocumentIn(document_id="sdk/ledger", content="Obsidian ledger entries.")
        ).wait_searchable(180)
        client.update_access("sdk/ledger", acl=["group:finance"]).wait_searchable(180)
        assert client.search("obsidian", mode="bm25").hits == []  # no longer visible to group:eng
        with pytest.raises(NotFound) as hidden:
            client.get_document("sdk/ledger")  # an ACL-hidden document is as absent as a missing one
        assert (hidden.value.status, hidden.value.type) == (404, TYPE + "not-found")

        client.upsert(DocumentIn(document_id="sdk/gone", content="Pumice floats on water.")).wait_searchable(
            180
        )
        record = client.get_document("sdk/gone")
        assert (record.tenant, record.version, record.status) == ("acme", 1, "active")
        client.delete("sdk/gone").wait_searchable(180)
        assert client.search("pumice", mode="bm25").hits == []
        history = client.history("sdk/gone").entries
        assert [(e.event_type, e.actor) for e in history] == [
            ("DocumentUpserted", "key:app"),
            ("DocumentDeleted", "key:app"),
        ]


def test_errors_are_typed_problems(secured: tuple[LocalPipeline, dict[str, str]]) -> None:
    pipeline, _ = secured
    with client_for(secured, "app", tenant="globex") as other_tenant, pytest.raises(Forbidden) as forbidden:
        other_tenant.search("basalt")
    assert forbidden.value.status == 403 and "tenant 'acme'" in forbidden.value.detail
    with Client(pipeline.query_url, pipeline.command_url, api_key="rsk_forged") as forged:
        with pytest.raises(Unauthenticated) as unauthenticated:
            forged.whoami()
        assert unauthenticated.value.type == TYPE + "unauthenticated"
    with client_for(secured, "app") as client, pytest.raises(InvalidRequest) as invalid:
        client.update_access("sdk/volcano")  # neither metadata nor an ACL: the API refuses it
    assert invalid.value.status == 422
    with Client("http://127.0.0.1:9", "http://127.0.0.1:9") as nowhere, pytest.raises(Unreachable):
        nowhere.whoami()


def test_the_readme_example_runs_as_written(
    secured: tuple[LocalPipeline, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, keys = secured
    example = re.search(r"```python\n(from ragstream.client import.*?)```", README.read_text(), re.S)
    assert example, "README.md lost its SDK example"
    # Client.from_profile() finds the APIs and the key in the environment, as a service would.
    monkeypatch.setenv("RAGSTREAM_QUERY_URL", pipeline.query_url)
    monkeypatch.setenv("RAGSTREAM_COMMAND_URL", pipeline.command_url)
    monkeypatch.setenv("RAGSTREAM_API_KEY", keys["app"])
    names: dict[str, Any] = {}
    exec(compile(example.group(1), "README.md", "exec"), names)
    assert names["hits"][0].document_id == "faq/1"  # hybrid: other passages may follow
    assert names["answer"].grounded and isinstance(names["event"], AnswerCitations)
    with client_for(secured, "app") as client:
        assert client.search("refunds", mode="bm25").hits == []  # moved to group:support, then deleted


def test_tenants_do_not_see_each_other(secured: tuple[LocalPipeline, dict[str, str]]) -> None:
    with client_for(secured, "globex") as globex:
        globex.upsert(
            DocumentIn(document_id="sdk/volcano", content="Globex granite quarry.")
        ).wait_searchable(180)
        assert [h.text for h in globex.search("granite", mode="bm25").hits] == ["Globex granite quarry."]
        assert globex.search("basalt", mode="bm25").hits == []


def test_the_async_client_does_the_same(secured: tuple[LocalPipeline, dict[str, str]]) -> None:
    pipeline, keys = secured

    async def scenario() -> None:
        async with AsyncClient(pipeline.query_url, pipeline.command_url, api_key=keys["app"]) as client:
            assert (await client.whoami("commands")).tenant == "acme"
            written = await client.upsert(DocumentIn(document_id="sdk/async", content="Tuff is volcanic ash rock.",
                                                     acl=["group:eng"]))  # fmt: skip
            await written.wait_searchable(timeout_s=180)
            hits = (await client.search("tuff", mode="bm25")).hits
            assert [h.document_id for h in hits] == ["sdk/async"]
            events = [e async for e in client.stream_answer("What is tuff?", passages=1)]
            assert isinstance(events[-1], AnswerCitations) and events[-1].grounded
            with pytest.raises(NotFound):
                await client.history("sdk/never-written")

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def limited(
    local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalPipeline, dict[str, str]]]:
    """Both APIs with a key allowed one query a second (burst 1)."""
    tag = unique_tag("sdkrl")
    with secured_pipeline(
        tag, Path(tmp_path_factory.mktemp(tag)), {"app": ("acme", ["read"])},
        RAGSTREAM_LIMITS__ENABLED="true", RAGSTREAM_LIMITS__QUERIES_PER_KEY='{"per_s": 1, "burst": 1}',
    ) as running:  # fmt: skip
        yield running


def test_rate_limited_calls_are_retried_after_the_wait_the_api_names(
    limited: tuple[LocalPipeline, dict[str, str]],
) -> None:
    pipeline, keys = limited
    patient = Client(pipeline.query_url, api_key=keys["app"], retry=RetryPolicy(attempts=5, max_wait_s=5))
    impatient = Client(pipeline.query_url, api_key=keys["app"], retry=NO_RETRIES)
    with patient, impatient:
        started = time.monotonic()
        for _ in range(3):
            assert patient.search("anything", mode="bm25").hits == []
        # Three queries through a bucket of one a second: two waits of the Retry-After (1 s each).
        assert time.monotonic() - started >= 1.5
        with pytest.raises(RateLimited) as refused:
            for _ in range(3):
                impatient.search("anything", mode="bm25")
        assert refused.value.retry_after_s == 1 and refused.value.status == 429
