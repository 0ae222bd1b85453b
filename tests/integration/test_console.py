"""The web console in headless chromium against a real pipeline (authentication on, one stream
worker, a tiny corpus): sign in, search, ask and follow a citation, a document's status and audit
trail, the admin's pipeline page, and what a reader must never see (another tenant's documents,
ACL-hidden ones, the pipeline page). Screenshots land in artifacts/console/ (git-ignored)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.sync_api import Browser, Page, expect

from ragstream.client import NO_RETRIES, Client, DocumentIn
from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import Settings
from ragstream.topics import catalogue
from tests.conftest import unique_tag
from tests.integration.browser import ARTIFACTS, chromium
from tests.integration.helpers import secured_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TIMEOUT_MS = 60_000
TIDES = "console/tides"
PAYROLL = "console/payroll"
GLOBEX = "console/globex-tides"


class Console:
    def __init__(self, pipeline: LocalPipeline, keys: dict[str, str], browser: Browser) -> None:
        self.pipeline, self.keys, self.browser = pipeline, keys, browser

    def page(self, key: str | None, *, phone: bool = False) -> Page:
        size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
        context = self.browser.new_context(viewport=size)  # a fresh tab: empty session storage
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.goto(f"{self.pipeline.query_url}/console/")
        if key is not None:
            page.get_by_label("API key").fill(self.keys[key])
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Search", level=1)).to_be_visible()
        return page


def produce_garbage(pipeline: LocalPipeline, *keys: bytes) -> None:
    """Records no stage can decode: the workers dead-letter them under their keys' tenants."""

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=pipeline.settings.kafka.bootstrap_servers)
        await producer.start()
        try:
            topic = catalogue(pipeline.settings.kafka.topic_prefix).commands.name
            for key in keys:
                await producer.send_and_wait(topic, b"not avro at all", key=key)
        finally:
            await producer.stop()

    asyncio.run(produce())


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def console(local_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tag = unique_tag("con")
    grants = {
        "writer": ("acme", ["read", "write", "admin"]),
        "reader": ("acme", ["read"]),
        "globex": ("globex", ["read", "write"]),
    }
    principals = {"writer": ["group:hr"], "reader": ["group:eng"]}
    work = Path(tmp_path_factory.mktemp(tag))
    with secured_pipeline(tag, work, grants, workers=1, principals=principals) as (pipeline, keys):

        def client(key: str) -> Client:
            return Client(pipeline.query_url, pipeline.command_url, api_key=keys[key], retry=NO_RETRIES)

        tides = DocumentIn(
            document_id=TIDES, title="Tides",
            content="Tides are caused by the gravitational pull of the Moon and the Sun on the oceans. "
            "Spring tides, the largest, happen at new and full moon.",
        )  # fmt: skip
        payroll = DocumentIn(
            document_id=PAYROLL, title="Payroll", acl=["group:hr"],
            content="Payroll secret: salaries are paid on the 25th of each month.",
        )  # fmt: skip
        produce_garbage(pipeline, b"acme/console/garbage", b"globex/globex-garbage")
        with client("writer") as acme:
            for doc in (tides, payroll):
                assert acme.upsert(doc).outcomes(timeout_s=240)[0].outcome == "searchable"
            # An unchanged re-ingest: the audit trail records its rejection and why.
            assert acme.upsert(tides).outcomes(timeout_s=60)[0].outcome == "rejected"
        with client("globex") as globex:
            other = DocumentIn(document_id=GLOBEX, title="Globex tide tables",
                               content="Globex tide tables: the Moon pulls the oceans twice a day.")  # fmt: skip
            assert globex.upsert(other).outcomes(timeout_s=240)[0].outcome == "searchable"
        with chromium() as browser:
            yield Console(pipeline, keys, browser)


def test_a_wrong_key_is_refused_in_words_and_the_page_holds_no_data(console: Console) -> None:
    page = console.page(None)
    page.get_by_label("API key").fill("rsk_" + "x" * 43)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not signed in, or the key is no longer valid")
    expect(page.get_by_role("navigation", name="Console")).to_be_hidden()
    shot(page, "signin-refused")
    # The page itself is public; the data behind it is not.
    assert httpx.get(f"{console.pipeline.query_url}/console/").status_code == 200
    assert httpx.post(f"{console.pipeline.query_url}/v1/search", json={"query": "tides"}).status_code == 401


def test_search_shows_hits_with_each_retrievers_scores_and_highlights(console: Console) -> None:
    page = console.page("reader")
    page.get_by_label("Query").fill("moon tides")
    page.get_by_label("Query").press("Enter")
    hits = page.locator("#search-hits > li")
    expect(hits.first).to_contain_text("Tides")
    expect(hits.first.locator("mark").first).to_be_visible()
    expect(hits.first).to_contain_text(re.compile(r"BM25 [\d.]+ \(rank 1\)"))
    expect(hits.first).to_contain_text(re.compile(r"vector [\d.]+ \(rank 1\)"))
    # Neither globex's document nor the HR-only payroll document is among a reader's hits.
    texts = " ".join(hits.all_inner_texts())
    assert GLOBEX not in texts and PAYROLL not in texts and "salaries" not in texts.lower()
    shot(page, "search")
    page.get_by_label("Query").fill("payroll salaries")
    page.get_by_label("Query").press("Enter")
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"hit|Nothing relevant"))
    assert "salaries" not in " ".join(page.locator("#search-hits > li").all_inner_texts()).lower()


def test_ask_streams_an_answer_whose_citation_opens_the_passage_and_the_document(console: Console) -> None:
    page = console.page("reader")
    page.get_by_role("link", name="Ask").click()
    page.get_by_label("Question").fill("What causes tides?")
    page.get_by_role("button", name="Ask").click()
    citation = page.locator("#ask-citations button").first
    expect(citation).to_contain_text("[1]")
    expect(page.locator("#ask-answer")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#ask-answer")).to_contain_text("Moon")
    citation.click()
    passage = page.get_by_role("complementary", name=re.compile(r"\[1\] Tides"))
    expect(passage).to_be_visible()
    expect(passage.locator("blockquote")).to_contain_text("gravitational")
    shot(page, "ask-citation")
    page.keyboard.press("Escape")  # closes the passage; focus goes back to the citation
    expect(passage).to_be_hidden()
    expect(citation).to_be_focused()
    page.keyboard.press("Enter")
    expect(passage).to_be_visible()
    page.get_by_role("link", name="Open the document").click()
    expect(page.get_by_role("heading", name="Tides", level=2)).to_be_visible()
    expect(page.locator("#document-chunks li.target")).to_contain_text("gravitational")


def test_ask_says_plainly_when_nothing_relevant_is_found(console: Console) -> None:
    page = console.page("reader")
    page.goto(f"{console.pipeline.query_url}/console/#ask")
    page.get_by_label("Question").fill("When are salaries paid in the payroll?")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#ask-note")).to_contain_text("Nothing relevant found")
    assert "25th" not in page.locator("#ask-answer").inner_text()


def test_a_documents_status_audit_trail_and_chunks(console: Console) -> None:
    page = console.page("reader")
    page.get_by_role("link", name="Documents").click()
    page.get_by_label("Document id").fill(TIDES)
    page.get_by_label("Document id").press("Enter")
    models = page.locator("#document-readmodels tbody")
    expect(models).to_contain_text("lexical")
    expect(models).to_contain_text("vector")
    expect(models.get_by_text("current")).to_have_count(2)
    history = page.locator("#document-history tbody")
    expect(history).to_contain_text("rejected")
    expect(page.locator("#document-why")).to_contain_text("unchanged")
    expect(page.locator("#document-chunks li").first).to_contain_text("gravitational")
    shot(page, "document")


def test_a_reader_never_sees_another_tenants_or_an_acl_hidden_document(console: Console) -> None:
    page = console.page("reader")
    for hidden in (PAYROLL, GLOBEX):
        page.goto(f"{console.pipeline.query_url}/console/#documents?id={hidden}")
        expect(page.get_by_role("alert")).to_contain_text(f"No document “{hidden}” that you may see")
        expect(page.locator("#document")).to_be_hidden()
    shot(page, "document-hidden")
    # The writer (group:hr) sees the payroll document through the same page.
    writer = console.page("writer")
    writer.goto(f"{console.pipeline.query_url}/console/#documents?id={PAYROLL}")
    expect(writer.locator("#document-fields")).to_contain_text("group:hr")


def test_the_pipeline_page_is_an_admins_and_a_reader_is_refused(console: Console) -> None:
    reader = console.page("reader")
    expect(reader.get_by_role("link", name="Pipeline")).to_be_hidden()
    reader.goto(f"{console.pipeline.query_url}/console/#pipeline")
    expect(reader.get_by_role("alert")).to_contain_text("lacks the admin scope")
    expect(reader.locator("#pipeline")).to_be_hidden()
    key = {"X-API-Key": console.keys["reader"]}
    assert httpx.get(f"{console.pipeline.query_url}/v1/admin/pipeline", headers=key).status_code == 403

    writer = {"X-API-Key": console.keys["writer"]}
    replay = httpx.post(
        f"{console.pipeline.query_url}/v1/admin/replay", json={"read_model": "all"}, headers=writer
    )
    assert replay.status_code == 202, replay.text
    admin = console.page("writer")
    admin.get_by_role("link", name="Pipeline").click()
    expect(admin.locator("#pipeline-jobs tbody")).to_contain_text(replay.json()["id"])
    stages = admin.locator("#pipeline-stages tbody tr")
    expect(stages).to_have_count(4)  # validate, chunk, embed, and embed for the bulk lane
    expect(stages.first).to_contain_text("validate")
    expect(admin.locator("#pipeline-group")).to_contain_text("1 worker")
    expect(admin.locator("#pipeline-freshness svg.histogram").first).to_be_visible()
    # The tenant's own dead letter, with its stage and reason; never globex's.
    dead = admin.locator("#pipeline-dead tbody")
    expect(dead).to_contain_text("console/garbage")
    expect(dead).to_contain_text("validate_commands")
    assert "globex" not in dead.inner_text()
    shot(admin, "pipeline")


def test_keyboard_and_a_phone_sized_screen(console: Console) -> None:
    page = console.page("reader", phone=True)
    page.get_by_role("link", name="Ask").click()
    page.keyboard.press("/")  # jumps to the search box from anywhere
    expect(page.get_by_label("Query")).to_be_focused()
    # A late route for the view already shown (the Ask click's own hashchange, handled after the
    # shortcut's) leaves the focus where the reader is typing.
    page.evaluate("window.dispatchEvent(new HashChangeEvent('hashchange'))")
    expect(page.get_by_label("Query")).to_be_focused()
    page.keyboard.type("spring tides")
    page.keyboard.press("Enter")
    expect(page.locator("#search-hits > li").first).to_contain_text("Tides")
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-search")
