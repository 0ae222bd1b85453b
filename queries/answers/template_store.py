"""Prompt templates per tenant in PostgreSQL: immutable versions, and the tenant's default.

Saving a template under an existing name makes its next version; an answer names a template (and
version) or gets the tenant's default, which points at a version or follows the latest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ragstream.postgres import apply_schema, retrying
from ragstream.queries.answers.templates import PromptTemplate, validate_template

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.prompt_templates (
    tenant          text        NOT NULL,
    name            text        NOT NULL,
    version         int         NOT NULL,
    system_prompt   text        NOT NULL,
    passage_format  text        NOT NULL,
    answer_style    text        NOT NULL DEFAULT '',
    language        text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text        NOT NULL DEFAULT '',
    PRIMARY KEY (tenant, name, version)
);
-- The template an answer gets when it names none; version NULL follows the latest.
CREATE TABLE IF NOT EXISTS {schema}.prompt_template_defaults (
    tenant   text PRIMARY KEY,
    name     text NOT NULL,
    version  int
);
"""
_FIELDS = "name, version, system_prompt, passage_format, answer_style, language, created_at, created_by"


class TemplateNotFound(LookupError):
    pass


@dataclass(frozen=True)
class StoredTemplate:
    template: PromptTemplate
    created_at: datetime
    created_by: str


def _stored(row: asyncpg.Record) -> StoredTemplate:
    template = PromptTemplate(
        system_prompt=row["system_prompt"], passage_format=row["passage_format"],
        answer_style=row["answer_style"], language=row["language"], name=row["name"], version=row["version"],
    )  # fmt: skip
    return StoredTemplate(template, row["created_at"], row["created_by"])


class TemplateStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._s = schema

    @classmethod
    async def on(cls, pool: asyncpg.Pool, schema: str) -> TemplateStore:
        """The store on an open pool (the registry's), its tables created if missing."""
        await apply_schema(pool, schema, _SCHEMA)
        return cls(pool, schema)

    @retrying
    async def create(self, tenant: str, template: PromptTemplate, created_by: str) -> StoredTemplate:
        """Validates the template and stores it as the next version of its name."""
        validate_template(template)
        async with self._pool.acquire() as conn, conn.transaction():
            # One writer per name at a time, so two saves never take the same version.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"template/{tenant}/{template.name}"
            )
            row = await conn.fetchrow(
                f"""INSERT INTO {self._s}.prompt_templates AS t (tenant, name, version, system_prompt,
                        passage_format, answer_style, language, created_by)
                    SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5, $6, $7
                    FROM {self._s}.prompt_templates WHERE tenant=$1 AND name=$2
                    RETURNING {_FIELDS}""",
                tenant, template.name, template.system_prompt, template.passage_format,
                template.answer_style, template.language, created_by,
            )  # fmt: skip
        assert row is not None
        return _stored(row)

    async def get(self, tenant: str, name: str, version: int | None = None) -> StoredTemplate | None:
        row = await self._pool.fetchrow(
            f"SELECT {_FIELDS} FROM {self._s}.prompt_templates WHERE tenant=$1 AND name=$2"
            " AND ($3::int IS NULL OR version=$3) ORDER BY version DESC LIMIT 1",
            tenant,
            name,
            version,
        )
        return None if row is None else _stored(row)

    async def versions(self, tenant: str, name: str) -> list[StoredTemplate]:
        rows = await self._pool.fetch(
            f"SELECT {_FIELDS} FROM {self._s}.prompt_templates WHERE tenant=$1 AND name=$2 ORDER BY version",
            tenant,
            name,
        )
        return [_stored(r) for r in rows]

    async def latest(self, tenant: str) -> list[StoredTemplate]:
        """The latest version of each of the tenant's templates, by name."""
        rows = await self._pool.fetch(
            f"SELECT DISTINCT ON (name) {_FIELDS} FROM {self._s}.prompt_templates WHERE tenant=$1"
            " ORDER BY name, version DESC",
            tenant,
        )
        return [_stored(r) for r in rows]

    async def delete(self, tenant: str, name: str) -> int:
        """Every version of the template; the default is cleared if it pointed here."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"DELETE FROM {self._s}.prompt_template_defaults WHERE tenant=$1 AND name=$2", tenant, name
            )
            status = await conn.execute(
                f"DELETE FROM {self._s}.prompt_templates WHERE tenant=$1 AND name=$2", tenant, name
            )
        return int(status.split()[-1])

    async def default(self, tenant: str) -> tuple[str, int | None] | None:
        row = await self._pool.fetchrow(
            f"SELECT name, version FROM {self._s}.prompt_template_defaults WHERE tenant=$1", tenant
        )
        return None if row is None else (row["name"], row["version"])

    async def set_default(self, tenant: str, name: str, version: int | None) -> StoredTemplate:
        found = await self.get(tenant, name, version)
        if found is None:
            raise TemplateNotFound(_missing(name, version))
        await self._pool.execute(
            f"""INSERT INTO {self._s}.prompt_template_defaults (tenant, name, version) VALUES ($1,$2,$3)
                ON CONFLICT (tenant) DO UPDATE SET name=$2, version=$3""",
            tenant,
            name,
            version,
        )
        return found

    async def clear_default(self, tenant: str) -> None:
        await self._pool.execute(f"DELETE FROM {self._s}.prompt_template_defaults WHERE tenant=$1", tenant)

    async def resolve(self, tenant: str, name: str | None, version: int | None) -> PromptTemplate | None:
        """The template an answer asked for, else the tenant's default; None: the built-in prompt.

        A template named but missing is an error (TemplateNotFound), never a silent default."""
        if name is None:
            chosen = await self.default(tenant)
            if chosen is None:
                return None
            name, version = chosen
        found = await self.get(tenant, name, version)
        if found is None:
            raise TemplateNotFound(_missing(name, version))
        return found.template


def _missing(name: str, version: int | None) -> str:
    return f"no prompt template {name!r}" + (f" version {version}" if version is not None else "")
