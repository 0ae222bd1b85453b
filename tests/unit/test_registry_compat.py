"""The schema registry's compatibility rules (Apache Avro's checker) and schema identity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ragstream.schemaregistry.compat import Compatibility, InvalidSchema, incompatibilities, normalize

pytestmark = pytest.mark.unit


def record(*fields: dict[str, Any]) -> str:
    return json.dumps({"type": "record", "name": "Doc", "namespace": "t", "fields": list(fields)})


V1 = record({"name": "id", "type": "string"})
WITH_DEFAULT = record({"name": "id", "type": "string"}, {"name": "lang", "type": "string", "default": "en"})
WITHOUT_DEFAULT = record({"name": "id", "type": "string"}, {"name": "lang", "type": "string"})
RETYPED = record({"name": "id", "type": "int"})


def test_backward_accepts_a_field_added_with_a_default_and_refuses_one_without() -> None:
    assert incompatibilities(Compatibility.BACKWARD, WITH_DEFAULT, [V1]) == []
    problems = incompatibilities(Compatibility.BACKWARD, WITHOUT_DEFAULT, [V1])
    assert (
        len(problems) == 1 and "reader_field_missing_default_value" in problems[0] and "lang" in problems[0]
    )


def test_backward_refuses_a_changed_type_and_allows_a_dropped_field() -> None:
    assert incompatibilities(Compatibility.BACKWARD, RETYPED, [V1])
    assert incompatibilities(Compatibility.BACKWARD, V1, [WITHOUT_DEFAULT]) == []


def test_forward_and_full_check_the_other_direction_too() -> None:
    # Dropping a field with no default: new data lacks what old readers require.
    assert incompatibilities(Compatibility.FORWARD, V1, [WITHOUT_DEFAULT])
    assert incompatibilities(Compatibility.FULL, V1, [WITHOUT_DEFAULT])
    assert incompatibilities(Compatibility.FULL, WITH_DEFAULT, [V1]) == []
    assert incompatibilities(Compatibility.NONE, RETYPED, [V1]) == []


def test_transitive_levels_check_every_earlier_version_not_only_the_latest() -> None:
    history = [WITHOUT_DEFAULT, V1]  # v1 had `lang` with no default; v2 dropped it
    assert incompatibilities(Compatibility.FORWARD, V1, history[-1:]) == []
    assert incompatibilities(Compatibility.FORWARD_TRANSITIVE, V1, history)


def test_one_schema_however_it_is_spaced_but_a_changed_default_is_another_schema() -> None:
    spaced = json.dumps(json.loads(WITH_DEFAULT), indent=4)
    assert normalize(spaced) == normalize(WITH_DEFAULT)
    other_default = WITH_DEFAULT.replace('"en"', '"de"')
    assert normalize(other_default) != normalize(WITH_DEFAULT)


@pytest.mark.parametrize("text", ["{", '{"type": "record", "name": "X"}', '"nosuchtype"'])
def test_invalid_schemas_are_refused(text: str) -> None:
    with pytest.raises(InvalidSchema):
        normalize(text)
