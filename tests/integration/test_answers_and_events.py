"""The query API with an OpenAI-compatible model (a local test server), authentication on and a
stream worker: waiting for a write on its event stream (the moment it is searchable, or rejected),
prompt templates applied and recorded, and the circuit breaker falling back to extractive answers
and closing again when the model recovers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ragstream.client import (
    NO_RETRIES,
    AnswerDelta,
    AnswerFallback,
    BadRequest,
    Client,
    DocumentIn,
    InvalidRequest,
    NotFound,
    RateLimited,
    TemplateIn,
)
from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import Settings
from tests.conftest import unique_tag
from tests.integration.helpers import secured_pipeline, wait_until
from tests.integration.servers import FakeModel, fake_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]
Secured = tuple[LocalPipeline, dict[str, str]]
BREAKER_RESET_S = 2.0


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModel]:
    with fake_model() as running:
        yield running


@pytest.fixture(scope="module")
def secured(
    model: FakeModel, local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    tag = unique_tag("gen")
    grants = {
        "app": ("acme", ["read", "write", "admin"]),
        "eng": ("acme", ["read"]),
        "globex": ("globex", ["read", "write", "admin"]),
    }
    env = {
        "RAGSTREAM_GENERATOR__KIND": "openai",
        "RAGSTREAM_GENERATOR__BASE_URL": model.url,
        "RAGSTREAM_GENERATOR__MODEL": "tiny-model",
        "RAGSTREAM_GENERATOR__TIMEOUT_S": "5",
        "RAGSTREAM_GENERATOR__BREAKER_FAILURES": "2",
        "RAGSTREAM_GENERATOR__BREAKER_RESET_S": str(BREAKER_RESET_S),
        "RAGSTREAM_NOTIFICATIONS__EVENTS_STREAMS_PER_TENANT": "2",
    }
    work = Path(tmp_path_factory.mktemp(tag))
    principals = {"app": ["group:hr"], "eng": ["group:eng"]}
    with secured_pipeline(tag, work, grants, workers=1, principals=principals, **env) as running:
        yield running


def client(secured: Secured, key: str = "app") -> Client:
    pipeline, keys = secured
    return Client(pipeline.query_url, pipeline.command_url, api_key=keys[key], retry=NO_RETRIES)


# --- waiting for a write -----------------------------------------------------------------------------


def test_the_event_stream_answers_the_moment_the_write_is_searchable(secured: Secured) -> None:
    with client(secured) as c:
        written = c.upsert(
            DocumentIn(document_id="events/andesite", content="Andesite is an extrusive rock.")
        )
        outcome = c.wait_for(written.commands[0], timeout_s=180)
        # At that moment the node serves it: the search sees it and the registry says it holds it.
        # (No clock in the assertion: which of a poller and the stream notices first is up to the load.)
        assert [h.document_id for h in c.search("andesite", mode="bm25").hits] == ["events/andesite"]
        assert (outcome.outcome, outcome.version, outcome.command_id) == (
            "searchable", 1, written.commands[0].command_id,
        )  # fmt: skip
        assert {name: held.version for name, held in c.get_document("events/andesite").read_models.items()} == {
            "lexical": 1, "vector": 1,
        }  # fmt: skip


def test_a_rejected_write_is_told_with_its_reason_and_an_unknown_one_times_out(secured: Secured) -> None:
    with client(secured) as c:
        doc = DocumentIn(document_id="events/dacite", content="Dacite sits between andesite and rhyolite.")
        assert c.upsert(doc).outcomes(timeout_s=180)[0].outcome == "searchable"
        [again] = c.upsert(doc).outcomes(timeout_s=60)
        assert (again.outcome, again.version) == ("rejected", 1) and again.reason.startswith("unchanged")
        stale = c.upsert(DocumentIn(document_id="events/dacite", content="Older.", document_version=1))
        [outcome] = stale.outcomes(timeout_s=60)
        assert outcome.outcome == "rejected" and outcome.reason.startswith("stale")
        started = time.monotonic()
        never = c.wait_for(document_id="events/dacite", command_id="no-such-command", timeout_s=1)
        assert never.outcome == "timeout" and 0.9 < time.monotonic() - started < 5
        with pytest.raises(BadRequest):
            c.wait_for(document_id="events/dacite", command_id="x", consistency_token="0:99999999")


def test_the_stream_follows_the_readers_tenant_and_acl(secured: Secured) -> None:
    with client(secured) as c:
        hidden = c.upsert(DocumentIn(document_id="events/payroll", content="Salaries.", acl=["group:hr"]))
        assert hidden.outcomes(timeout_s=180)[0].outcome == "searchable"  # the writer is in group:hr
    with client(secured, "eng") as eng, pytest.raises(NotFound):
        eng.wait_for(hidden.commands[0], timeout_s=5)  # group:eng may not see it
    with client(secured, "globex") as globex:  # another tenant never learns of acme's write
        assert globex.wait_for(hidden.commands[0], timeout_s=1).outcome == "timeout"


def test_a_tenant_may_hold_only_so_many_streams_open(secured: Secured) -> None:
    pipeline, keys = secured
    url = f"{pipeline.query_url}/v1/documents/events%2Fslots/events"
    headers = {"X-API-Key": keys["app"]}

    def hold(command_id: str) -> int:
        with httpx.stream("GET", url, params={"command_id": command_id, "timeout_s": 3}, headers=headers,
                          timeout=30) as response:  # fmt: skip
            response.read()
            return response.status_code

    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(hold, f"waiting-{i}") for i in range(2)]
        time.sleep(1)
        with client(secured) as c, pytest.raises(RateLimited):
            c.wait_for(document_id="events/slots", command_id="third", timeout_s=1)
        assert [f.result() for f in held] == [200, 200]
    with client(secured) as c:  # the slots are free again
        assert c.wait_for(document_id="events/slots", command_id="after", timeout_s=1).outcome == "timeout"


# --- prompt templates ------------------------------------------------------------------------------------


def test_templates_are_validated_versioned_applied_and_recorded(secured: Secured, model: FakeModel) -> None:
    with client(secured) as c:
        c.upsert(
            DocumentIn(document_id="gen/basalt", content="Basalt is a dark volcanic rock.")
        ).wait_searchable(180)
        with pytest.raises(InvalidRequest, match="unknown placeholder"):
            c.create_template(TemplateIn(name="support", system_prompt="Answer {question}"))
        first = c.create_template(
            TemplateIn(name="support", system_prompt="Acme v1. {not_found}", language="German")
        )
        second = c.create_template(TemplateIn(name="support", system_prompt="Acme v2. {not_found}"))
        assert (first.version, second.version, second.default) == (1, 2, False)

        model.requests.clear()
        plain = c.answer("What is basalt?")
        assert plain.template is None and model.system_prompts()[-1].startswith("You answer questions")
        pinned = c.answer("What is basalt?", template="support@1")
        assert pinned.template == "support@1" and pinned.fallback is None
        assert model.system_prompts()[-1].startswith("Acme v1.") and "German" in model.system_prompts()[-1]
        c.set_default_template("support")  # follows the latest
        assert c.answer("What is basalt?").template == "support@2"
        assert model.system_prompts()[-1].startswith("Acme v2.")
        assert c.templates().default == "support"
        with pytest.raises(NotFound):
            c.answer("What is basalt?", template="nope")
        with client(secured, "globex") as globex:  # templates are the tenant's own
            assert globex.answer("What is basalt?").template is None
            with pytest.raises(NotFound):
                globex.template("support")

        def answers() -> list[str]:  # the query log is written in the background
            return [e["template"] for e in c.query_log(limit=10)["entries"] if e["endpoint"] == "answer"]

        # Until this test's three answers are the newest (the log may hold earlier tests' answers).
        wait_until(lambda: answers()[:3] == ["support@2", "support@1", ""], timeout=10, interval=0.2)
        c.clear_default_template("support")
        assert c.answer("What is basalt?").template is None
        assert [t.version for t in c.template_versions("support")] == [1, 2]
        c.delete_template("support")
        with pytest.raises(NotFound):
            c.answer("What is basalt?", template="support")


# --- resilient generation --------------------------------------------------------------------------------


def test_the_breaker_opens_on_a_failing_model_answers_fall_back_and_it_closes_on_recovery(
    secured: Secured, model: FakeModel
) -> None:
    with client(secured) as c:
        c.upsert(
            DocumentIn(document_id="gen/pumice", content="Pumice is a light volcanic rock.")
        ).wait_searchable(180)
        assert c.answer("What is pumice?").fallback is None
        model.failing = True
        try:
            failed = [c.answer("What is pumice?") for _ in range(2)]
            assert [(a.fallback, a.fallback_reason) for a in failed] == [("extractive", "unavailable")] * 2
            assert failed[0].grounded and failed[0].citations[0].document_id == "gen/pumice"
            asked = len(model.requests)
            opened = c.answer("What is pumice?")
            assert (opened.fallback, opened.fallback_reason) == ("extractive", "circuit-open")
            assert len(model.requests) == asked  # open: the model is not even asked
            events = list(c.stream_answer("What is pumice?"))
            assert events[0] == AnswerFallback(generator="extractive", reason="circuit-open")
            assert any(isinstance(e, AnswerDelta) for e in events)
            wait_until(
                lambda: c.query_log(limit=1)["entries"][0]["fallback"] == "extractive",
                timeout=10,
            )
        finally:
            model.failing = False
        # After the reset time one trial goes to the model; it answers, and the breaker closes.
        wait_until(
            lambda: c.answer("What is pumice?").fallback is None, timeout=BREAKER_RESET_S * 5, interval=0.5
        )
        assert c.answer("What is pumice?").fallback is None and len(model.requests) > asked
