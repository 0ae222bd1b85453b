"""Prompt templates: how a tenant's answers are asked of the language model.

A template has a system prompt, a passage format, an answer style and a language. Placeholders are
Python format fields (`{question}`), and only those the generator fills in are allowed, checked when
the template is created, so a template that would fail (or leak an attribute through `{x.__class__}`)
never reaches an answer. `{{` and `}}` are literal braces. The extractive generator ignores templates.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from ragstream.queries.answers.base import NOT_FOUND_TEXT, Passage
from ragstream.queries.answers.exceptions import AnswerError

# What each field may refer to, and what a passage format must show for citations to work.
SYSTEM_FIELDS = frozenset({"not_found", "answer_style", "language"})
PASSAGE_FIELDS = frozenset({"number", "title", "text", "document_id"})
PASSAGE_REQUIRED = frozenset({"number", "text"})
MAX_FIELD_CHARS = 8000

DEFAULT_SYSTEM_PROMPT = """You answer questions using only the numbered passages the user provides.
Rules:
- End every sentence that states a fact with the marker of the passage that supports it, e.g. [1] or [2][3].
- Make no claim that the passages do not support, and never use outside knowledge.
- Only cite passage numbers that were given.
- If the passages do not answer the question, reply exactly: {not_found}"""
# Without a title the line is just the marker (the format's "{title}" renders empty).
DEFAULT_PASSAGE_FORMAT = "[{number}] {title}\n{text}"


class InvalidTemplate(AnswerError, ValueError):
    """A template that uses a placeholder the generator does not fill in, or is malformed."""


@dataclass(frozen=True)
class PromptTemplate:
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    passage_format: str = DEFAULT_PASSAGE_FORMAT
    # Appended to the system prompt as an instruction ("Answer in two short sentences.").
    answer_style: str = ""
    # The language answers are written in ("German", "fr"); empty: the question's.
    language: str = ""
    # Where it came from: a tenant's template `name` at `version` (0: the built-in default).
    name: str = ""
    version: int = 0

    @property
    def label(self) -> str:
        """`name@version`, as the query log and the answer record it; "" for the built-in one."""
        return f"{self.name}@{self.version}" if self.name else ""

    def system_message(self) -> str:
        text = self.system_prompt.format_map(
            {"not_found": NOT_FOUND_TEXT, "answer_style": self.answer_style, "language": self.language}
        )
        # Unless the prompt places them itself, style and language are added as instructions.
        if self.answer_style and "{answer_style}" not in self.system_prompt:
            text += f"\n\nAnswer style: {self.answer_style}"
        if self.language and "{language}" not in self.system_prompt:
            text += f"\n\nWrite the answer in this language: {self.language}"
        return text

    def passage(self, passage: Passage) -> str:
        text = self.passage_format.format_map(
            {"number": passage.number, "title": passage.title, "text": passage.text,
             "document_id": passage.document_id}
        )  # fmt: skip
        # "[{number}] {title}" of a passage without a title would end in a stray space.
        return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")

    def user_message(self, question: str, passages: Sequence[Passage]) -> str:
        blocks = [self.passage(p) for p in passages]
        return "Passages:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"


DEFAULT_TEMPLATE = PromptTemplate()


def placeholders(text: str) -> set[str]:
    """The fields a format string refers to; InvalidTemplate when it is malformed or uses anything
    but a plain name (attribute or index access, conversions, format specs)."""
    found: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvalidTemplate(
            f"malformed placeholder: {exc} (write {{{{ and }}}} for literal braces)"
        ) from exc
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            raise InvalidTemplate(f"placeholder {{{field}}} must be a plain name")
        if spec or conversion:
            raise InvalidTemplate(f"placeholder {{{field}}} takes no format spec or conversion")
        found.add(field)
    return found


def validate_template(template: PromptTemplate) -> PromptTemplate:
    """The template if every field is within bounds and uses only known placeholders."""
    for name in ("system_prompt", "passage_format", "answer_style", "language"):
        value = getattr(template, name)
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidTemplate(f"{name} is longer than {MAX_FIELD_CHARS} characters")
        if "\x00" in value:
            raise InvalidTemplate(f"{name} must not contain NUL characters")
    if not template.system_prompt.strip():
        raise InvalidTemplate("system_prompt must not be empty")
    _only(template.system_prompt, SYSTEM_FIELDS, "system_prompt")
    used = _only(template.passage_format, PASSAGE_FIELDS, "passage_format")
    if missing := PASSAGE_REQUIRED - used:
        raise InvalidTemplate(
            "passage_format must show " + " and ".join(f"{{{m}}}" for m in sorted(missing))
            + ": answers cite passages by number"
        )  # fmt: skip
    # Style and language are plain text: a brace there is almost certainly a mistake.
    for name in ("answer_style", "language"):
        if placeholders(getattr(template, name)):
            raise InvalidTemplate(f"{name} is plain text and takes no placeholders")
    return template


def _only(text: str, allowed: frozenset[str], name: str) -> set[str]:
    used = placeholders(text)
    if unknown := used - allowed:
        known = ", ".join(f"{{{a}}}" for a in sorted(allowed))
        raise InvalidTemplate(
            f"{name} uses unknown placeholder(s) {', '.join(f'{{{u}}}' for u in sorted(unknown))}; known: {known}"
        )
    return used
