"""Exact-match terms shared by every backend, so filters mean the same thing everywhere.

Both backends index ACL entries and metadata pairs as opaque keyword terms: one term lookup per
constraint keeps filtering inside the search instead of after truncation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

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
