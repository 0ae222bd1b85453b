"""Prompt templates: only placeholders the generator fills in, and how a template renders."""

from __future__ import annotations

import pytest

from ragstream.queries.answers.base import NOT_FOUND_TEXT, Passage
from ragstream.queries.answers.openai_compatible import SYSTEM_PROMPT
from ragstream.queries.answers.templates import (
    DEFAULT_TEMPLATE,
    InvalidTemplate,
    PromptTemplate,
    placeholders,
    validate_template,
)

pytestmark = pytest.mark.unit

PASSAGES = [
    Passage(1, "faq/1", "faq/1#v1#c0", "Refunds", "Refunds take five days.", 0, 23),
    Passage(2, "faq/2", "faq/2#v1#c0", "", "Shipping is free.", 0, 17),
]


def test_the_built_in_template_is_the_prompt_answers_had_before() -> None:
    assert DEFAULT_TEMPLATE.system_message() == SYSTEM_PROMPT
    assert SYSTEM_PROMPT.endswith(f"reply exactly: {NOT_FOUND_TEXT}")
    assert DEFAULT_TEMPLATE.user_message("How long?", PASSAGES) == (
        "Passages:\n\n[1] Refunds\nRefunds take five days.\n\n[2]\nShipping is free.\n\nQuestion: How long?"
    )
    assert DEFAULT_TEMPLATE.label == ""


def test_a_tenants_template_shapes_system_prompt_passages_style_and_language() -> None:
    template = validate_template(
        PromptTemplate(
            system_prompt="You are Acme's support bot. If unsure say: {not_found} ({language})",
            passage_format="<source id={number} doc={document_id}>{text}</source>",
            answer_style="Two short sentences, friendly.",
            language="German",
            name="support",
            version=3,
        )
    )
    system = template.system_message()
    assert system.startswith(f"You are Acme's support bot. If unsure say: {NOT_FOUND_TEXT} (German)")
    # Style is appended as an instruction; the language is placed by the prompt itself.
    assert system.endswith("Answer style: Two short sentences, friendly.") and "this language" not in system
    assert "<source id=2 doc=faq/2>Shipping is free.</source>" in template.user_message("Q?", PASSAGES)
    assert template.label == "support@3"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("system_prompt", "Answer {question} now", "unknown placeholder"),
        ("system_prompt", "{not_found.__class__}", "plain name"),
        ("system_prompt", "{0}", "plain name"),
        ("system_prompt", "{language!r}", "no format spec"),
        ("system_prompt", "{language:>10}", "no format spec"),
        ("system_prompt", "unclosed {brace", "malformed"),
        ("system_prompt", "   ", "must not be empty"),
        ("passage_format", "{title}: {text}", "must show {number}"),
        ("passage_format", "[{number}]", "must show {text}"),
        ("passage_format", "[{number}] {text} {secret}", "unknown placeholder"),
        ("answer_style", "be {language}", "plain text"),
        ("language", "x" * 9000, "longer than"),
        ("system_prompt", "nul \x00 here", "NUL"),
    ],
)
def test_a_template_the_generator_cannot_fill_is_refused(field: str, value: str, message: str) -> None:
    with pytest.raises(InvalidTemplate, match=message):
        validate_template(PromptTemplate(**{field: value}))


def test_literal_braces_are_written_doubled() -> None:
    template = validate_template(PromptTemplate(system_prompt='Reply as JSON {{"answer": ...}}.'))
    assert template.system_message() == 'Reply as JSON {"answer": ...}.'
    assert placeholders("{{x}} {number}") == {"number"}
