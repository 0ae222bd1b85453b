"""Exact-match terms shared by every backend, so filters mean the same thing everywhere.

Both backends index ACL entries and metadata pairs as opaque keyword terms: one term lookup per
constraint keeps filtering inside the search instead of after truncation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from ragstream.queries.readmodels.base import SearchFilter

_C = TypeVar("_C")

# Stored in place of an empty ACL, so "ACL empty or intersects the principals" is a single
# any-of lookup on the `acl` field.
PUBLIC_ACL = "__public__"


def _pair(first: str, second: str) -> str:
    # JSON keeps the pair unambiguous whatever characters the parts contain ("a=b" + "c" vs
    # "a" + "b=c" would collide with a plain separator).
    return json.dumps([first, second], ensure_ascii=False, separators=(",", ":"))


def scoped_key(tenant: str, value: str) -> str:
    """Key that is unique across tenants: the same document id may exist in several tenants."""
    return _pair(tenant, value)


def metadata_term(key: str, value: str) -> str:
    return _pair(key, value)


def metadata_terms(metadata: Mapping[str, str]) -> list[str]:
    return [metadata_term(key, value) for key, value in sorted(metadata.items())]


def acl_terms(acl: Sequence[str]) -> list[str]:
    """Terms to index for a chunk's ACL."""
    return list(dict.fromkeys(acl)) or [PUBLIC_ACL]


def stored_acl(terms: Sequence[str]) -> tuple[str, ...]:
    """Inverse of `acl_terms`: the ACL as the caller gave it."""
    return tuple(term for term in terms if term != PUBLIC_ACL)


def visible_acl_terms(principals: Sequence[str]) -> list[str]:
    """ACL terms any one of which makes a chunk visible to `principals`."""
    return [*dict.fromkeys(principals), PUBLIC_ACL]


def filter_conditions(
    flt: SearchFilter,
    term: Callable[[str, str], _C],
    any_term: Callable[[str, list[str]], _C],
    *,
    meta_field: str = "meta",
) -> list[_C]:
    """The conditions, all of which must hold, that `flt` puts on the indexed term fields `tenant`,
    `acl`, `meta_field` and `document_id`, each built by the backend's own constructor for "equals
    this term" (`term`) or "equals any of these terms" (`any_term`).

    One definition for every backend, so a filter cannot mean one thing in the keyword index and
    another in the vector index of the same query.
    """
    conditions = [term("tenant", flt.tenant)]
    if flt.principals is not None:
        conditions.append(any_term("acl", visible_acl_terms(flt.principals)))
    conditions += [term(meta_field, value) for value in metadata_terms(flt.metadata)]
    if flt.document_ids is not None:
        conditions.append(any_term("document_id", list(dict.fromkeys(flt.document_ids))))
    return conditions
