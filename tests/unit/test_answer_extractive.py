"""The model-free extractive generator: quotes, spans, markers and the nothing-relevant path."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ragstream.queries.answers.base import NOT_FOUND_TEXT, Answer, Generator, Passage, passages_from_chunks
from ragstream.queries.answers.citations import answer_from_text
from ragstream.queries.answers.exceptions import InvalidGeneratorArgument
from ragstream.queries.answers.extractive import ExtractiveGenerator
from ragstream.queries.readmodels.base import IndexedChunk

pytestmark = pytest.mark.unit

OPS_DOC = (
    "Operations guide.\n\n"
    "Ragstream reads document changes from a Kafka topic. The projector writes chunks into both indexes.\n\n"
    "Failed embedding requests are retried three times with exponential backoff. "
    "After the last attempt the event is parked on a dead-letter topic.\n\n"
    "The web console uses a dark theme by default."
)


def passage_of(number: int, doc: str, snippet: str, document_id: str = "ops") -> Passage:
    """A passage whose span really is where `snippet` sits in `doc`, like the chunker produces."""
    start = doc.index(snippet)
    return Passage(
        number, document_id, f"{document_id}#v1#c{number}", "Ops guide", snippet, start, start + len(snippet)
    )


INGEST = "Ragstream reads document changes from a Kafka topic. The projector writes chunks into both indexes."
RETRY = OPS_DOC[OPS_DOC.index("Failed embedding") : OPS_DOC.index("\n\nThe web console")]
THEME = "The web console uses a dark theme by default."
PASSAGES = [passage_of(1, OPS_DOC, INGEST), passage_of(2, OPS_DOC, RETRY), passage_of(3, OPS_DOC, THEME)]


def assert_markers_resolve(answer: Answer) -> None:
    in_text = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert in_text == {c.marker for c in answer.citations}


async def test_cites_the_passage_that_contains_the_answer() -> None:
    answer = await ExtractiveGenerator().generate(
        "How often are failed embedding requests retried?", PASSAGES
    )

    assert answer.grounded
    assert answer.text == ("Failed embedding requests are retried three times with exponential backoff. [2]")
    [citation] = answer.citations
    assert citation.marker == 2
    assert citation.document_id == "ops"
    assert citation.chunk_id == "ops#v1#c2"
    assert citation.quote == "Failed embedding requests are retried three times with exponential backoff."
    assert citation.quote in PASSAGES[1].text
    # The span is in document coordinates: passage start plus the sentence's offset inside the passage.
    assert citation.start == PASSAGES[1].start + PASSAGES[1].text.index(citation.quote)
    assert OPS_DOC[citation.start : citation.end] == citation.quote
    assert_markers_resolve(answer)


async def test_spans_are_right_for_a_sentence_in_the_middle_of_a_passage() -> None:
    answer = await ExtractiveGenerator().generate("Where does the projector write chunks?", PASSAGES)
    [citation] = answer.citations
    assert citation.quote == "The projector writes chunks into both indexes."
    assert citation.start == PASSAGES[0].start + len("Ragstream reads document changes from a Kafka topic. ")
    assert OPS_DOC[citation.start : citation.end] == citation.quote


async def test_orders_sentences_by_passage_rank_then_position() -> None:
    doc = (
        "Kafka stores events durably. Kafka partitions spread the load. Topics in Kafka are append-only logs."
    )
    first = passage_of(1, doc, "Topics in Kafka are append-only logs.", "k")
    second = passage_of(2, doc, "Kafka stores events durably. Kafka partitions spread the load.", "k")
    answer = await ExtractiveGenerator().generate("What does Kafka do?", [first, second])
    assert [c.marker for c in answer.citations] == [1, 2, 2]
    assert [c.start for c in answer.citations[1:]] == sorted(c.start for c in answer.citations[1:])
    assert answer.text.startswith("Topics in Kafka are append-only logs. [1] Kafka stores")
    for citation in answer.citations:
        assert doc[citation.start : citation.end] == citation.quote
    assert_markers_resolve(answer)


async def test_skips_near_duplicate_sentences_from_overlapping_chunks() -> None:
    doc = "Backups run nightly at two. Backups run nightly at two. Restores need an admin."
    one = passage_of(1, doc, "Backups run nightly at two.", "b")
    # Overlapping chunks repeat text; quoting it twice adds nothing.
    two = Passage(2, "b", "b#v1#c2", "", "Backups run nightly at two.", 28, 55)
    answer = await ExtractiveGenerator().generate("When do backups run?", [one, two])
    assert answer.text == "Backups run nightly at two. [1]"


async def test_max_sentences_bounds_the_answer() -> None:
    text = " ".join(f"Kafka fact number {i} is here." for i in range(10))
    passage = Passage(1, "d", "d#v1#c0", "", text, 0, len(text))
    answer = await ExtractiveGenerator(max_sentences=2).generate("kafka fact", [passage])
    assert len(answer.citations) == 2


@pytest.mark.parametrize(
    "question", ["What is the capital of France?", "What is it?", "", "How do I bake sourdough bread?"]
)
async def test_nothing_relevant_is_ungrounded(question: str) -> None:
    answer = await ExtractiveGenerator().generate(question, PASSAGES)
    assert answer == Answer(NOT_FOUND_TEXT, [], grounded=False)


async def test_no_passages_is_ungrounded() -> None:
    answer = await ExtractiveGenerator().generate("How are requests retried?", [])
    assert not answer.grounded
    assert answer.citations == []
    assert answer.text == NOT_FOUND_TEXT


async def test_stream_yields_the_answer_text_in_pieces() -> None:
    generator = ExtractiveGenerator()
    question = "What does Kafka do with topics and events?"
    doc = "Kafka stores events durably. Topics in Kafka are append-only logs."
    passages = [Passage(1, "k", "k#v1#c0", "", doc, 0, len(doc))]
    pieces = [piece async for piece in generator.stream(question, passages)]
    assert len(pieces) == 2
    assert "".join(pieces) == (await generator.generate(question, passages)).text


async def test_stream_of_nothing_relevant() -> None:
    pieces = [p async for p in ExtractiveGenerator().stream("capital of France", PASSAGES)]
    assert "".join(pieces) == NOT_FOUND_TEXT


async def test_passages_from_chunks_numbers_from_one() -> None:
    chunks = [
        IndexedChunk("t", "ops", 1, 0, INGEST, title="Ops", start=OPS_DOC.index(INGEST), end=0),
        IndexedChunk("t", "ops", 1, 1, RETRY, title="Ops", start=OPS_DOC.index(RETRY), end=0),
    ]
    passages = passages_from_chunks(chunks)
    assert [p.number for p in passages] == [1, 2]
    assert passages[1].chunk_id == "ops#v1#c1"
    answer = await ExtractiveGenerator().generate("dead-letter topic", passages)
    assert OPS_DOC[answer.citations[0].start : answer.citations[0].end] == answer.citations[0].quote


def test_is_a_generator() -> None:
    assert isinstance(ExtractiveGenerator(), Generator)


@pytest.mark.parametrize("kwargs", [{"max_sentences": 0}, {"min_overlap": 0.0}, {"min_overlap": 1.5}])
def test_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidGeneratorArgument):
        ExtractiveGenerator(**kwargs)


async def test_rejects_duplicate_passage_numbers() -> None:
    with pytest.raises(InvalidGeneratorArgument, match="used twice"):
        await ExtractiveGenerator().generate("kafka", [PASSAGES[0], PASSAGES[0]])


async def test_streamed_text_resolves_to_the_same_citations() -> None:
    generator = ExtractiveGenerator()
    question = "What happens to failed embedding requests after the last retry attempt?"
    answer = await generator.generate(question, PASSAGES)
    streamed = "".join([p async for p in generator.stream(question, PASSAGES)])
    assert answer_from_text(streamed, PASSAGES) == answer


async def test_diagrams_and_underlines_are_never_quoted_as_answers() -> None:
    diagram = Passage(
        number=1, document_id="readme", chunk_id="readme#v1#c0", title="README",
        text="The registry stores documents ─┐ ┌─> audit trail ─┘ registry stores. The \"with\" statement ********************",
        start=0, end=120,
    )  # fmt: skip
    prose = Passage(
        number=2, document_id="arch", chunk_id="arch#v1#c0", title="Architecture",
        text="The registry stores documents and the audit trail in PostgreSQL.", start=0, end=64,
    )  # fmt: skip
    answer = await ExtractiveGenerator().generate(
        "Where does the registry store documents?", [diagram, prose]
    )
    assert answer.grounded
    assert {c.document_id for c in answer.citations} == {"arch"}
