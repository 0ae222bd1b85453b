"""Subjects, versions and schemas in PostgreSQL; registration is serialised per subject."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import asyncpg

from ragstream.postgres import apply_schema, connect_pool
from ragstream.schemaregistry.compat import Compatibility, InvalidSchema, incompatibilities, normalize
from ragstream.settings import PostgresSettings

DEFAULT_COMPATIBILITY = Compatibility.BACKWARD


class RegistryError(Exception):
    """An answer of the registry's API other than success: HTTP status and Confluent error code."""

    status = 500
    code = 50001

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SubjectNotFound(RegistryError):
    status, code = 404, 40401


class VersionNotFound(RegistryError):
    status, code = 404, 40402


class SchemaNotFound(RegistryError):
    status, code = 404, 40403


class IncompatibleSchema(RegistryError):
    status, code = 409, 409


class InvalidSchemaError(RegistryError):
    status, code = 422, 42201


class InvalidVersion(RegistryError):
    status, code = 422, 42202


@dataclass(frozen=True)
class SubjectVersion:
    subject: str
    version: int
    schema_id: int
    schema: str
    schema_type: str = "AVRO"


_VERSION_QUERY = """
    SELECT v.subject, v.version, v.schema_id, s.schema_text, s.schema_type
    FROM {schema}.subject_versions v JOIN {schema}.schemas s ON s.id = v.schema_id
"""


class SchemaStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._schema = schema
        self._versions = _VERSION_QUERY.replace("{schema}", schema)

    @classmethod
    async def connect(cls, postgres: PostgresSettings, schema: str) -> SchemaStore:
        pool = await connect_pool(postgres, max_size=4)
        script = resources.files("ragstream.schemaregistry").joinpath("schema.sql").read_text()
        await apply_schema(pool, schema, script)
        return cls(pool, schema)

    async def close(self) -> None:
        await self._pool.close()

    def _sql(self, text: str) -> str:
        return text.replace("{schema}", self._schema)

    async def compatibility(self, subject: str | None, *, fallback: bool = True) -> Compatibility | None:
        rows = await self._pool.fetch(
            self._sql("SELECT subject, compatibility FROM {schema}.config WHERE subject = ANY($1::text[])"),
            [subject or "", ""],
        )
        levels = {row["subject"]: Compatibility(row["compatibility"]) for row in rows}
        if subject and subject in levels:
            return levels[subject]
        if subject and not fallback:
            return None
        return levels.get("", DEFAULT_COMPATIBILITY)

    async def set_compatibility(self, subject: str | None, level: Compatibility) -> None:
        await self._pool.execute(
            self._sql(
                "INSERT INTO {schema}.config (subject, compatibility) VALUES ($1, $2) "
                "ON CONFLICT (subject) DO UPDATE SET compatibility = EXCLUDED.compatibility"
            ),
            subject or "",
            level.value,
        )

    async def register(self, subject: str, text: str, schema_type: str = "AVRO") -> SubjectVersion:
        """The subject's version holding this schema, added as the next version if the subject's
        compatibility level allows it (IncompatibleSchema otherwise)."""
        normalized = _normalized(text)
        level = await self.compatibility(subject)
        assert level is not None
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"schema-registry:{subject}")
            live = await conn.fetch(
                self._versions + "WHERE v.subject = $1 AND NOT v.deleted ORDER BY v.version", subject
            )
            for row in live:
                if _normalized(row["schema_text"]) == normalized:
                    return _version(row)
            problems = incompatibilities(level, text, [row["schema_text"] for row in live])
            if problems:
                raise IncompatibleSchema(
                    f"Schema being registered is incompatible with an earlier schema for subject "
                    f"{subject!r} ({level.value}): " + "; ".join(problems)
                )
            schema_id = await conn.fetchval(
                self._sql(
                    "INSERT INTO {schema}.schemas (schema_type, normalized, schema_text) VALUES ($1, $2, $3) "
                    "ON CONFLICT (normalized) DO UPDATE SET normalized = EXCLUDED.normalized RETURNING id"
                ),
                schema_type,
                normalized,
                text,
            )
            # Version numbers are never reused, not even those of deleted versions.
            version = await conn.fetchval(
                self._sql(
                    "INSERT INTO {schema}.subject_versions (subject, version, schema_id) "
                    "SELECT $1, COALESCE(MAX(version), 0) + 1, $2 FROM {schema}.subject_versions "
                    "WHERE subject = $1 RETURNING version"
                ),
                subject,
                schema_id,
            )
            stored = await conn.fetchval(
                self._sql("SELECT schema_text FROM {schema}.schemas WHERE id = $1"), schema_id
            )
        return SubjectVersion(subject, int(version), int(schema_id), str(stored), schema_type)

    async def lookup(self, subject: str, text: str) -> SubjectVersion:
        normalized = _normalized(text)
        rows = await self._pool.fetch(
            self._versions + "WHERE v.subject = $1 AND NOT v.deleted ORDER BY v.version", subject
        )
        if not rows:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        for row in rows:
            if row["schema_text"] == text or _normalized(row["schema_text"]) == normalized:
                return _version(row)
        raise SchemaNotFound("Schema not found")

    async def schema(self, schema_id: int) -> tuple[str, str]:
        row = await self._pool.fetchrow(
            self._sql("SELECT schema_text, schema_type FROM {schema}.schemas WHERE id = $1"), schema_id
        )
        if row is None:
            raise SchemaNotFound(f"Schema {schema_id} not found")
        return str(row["schema_text"]), str(row["schema_type"])

    async def usages(self, schema_id: int) -> list[tuple[str, int]]:
        await self.schema(schema_id)
        rows = await self._pool.fetch(
            self._sql(
                "SELECT subject, version FROM {schema}.subject_versions "
                "WHERE schema_id = $1 AND NOT deleted ORDER BY subject, version"
            ),
            schema_id,
        )
        return [(str(r["subject"]), int(r["version"])) for r in rows]

    async def subjects(self) -> list[str]:
        rows = await self._pool.fetch(
            self._sql(
                "SELECT DISTINCT subject FROM {schema}.subject_versions WHERE NOT deleted ORDER BY subject"
            )
        )
        return [str(r["subject"]) for r in rows]

    async def versions(self, subject: str) -> list[int]:
        rows = await self._pool.fetch(
            self._sql(
                "SELECT version FROM {schema}.subject_versions WHERE subject = $1 AND NOT deleted ORDER BY version"
            ),
            subject,
        )
        if not rows:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        return [int(r["version"]) for r in rows]

    async def version(self, subject: str, version: str) -> SubjectVersion:
        """`version` is a number or "latest" (also -1)."""
        if version in ("latest", "-1"):
            number = (await self.versions(subject))[-1]
        else:
            try:
                number = int(version)
            except ValueError:
                raise InvalidVersion(
                    f"The specified version '{version}' is not a valid version id."
                ) from None
            if number < 1:
                raise InvalidVersion(f"The specified version '{version}' is not a valid version id.")
        row = await self._pool.fetchrow(
            self._versions + "WHERE v.subject = $1 AND v.version = $2 AND NOT v.deleted", subject, number
        )
        if row is None:
            await self.versions(subject)  # SubjectNotFound when the subject itself is unknown
            raise VersionNotFound(f"Version {version} not found.")
        return _version(row)

    async def check(self, subject: str, text: str, version: str) -> list[str]:
        """Why `text` would be refused as the next version (against `version` or, with "all" or a
        transitive level, every live version); empty when it would be accepted."""
        level = await self.compatibility(subject)
        assert level is not None
        _normalized(text)
        try:
            live = [await self.version(subject, version)] if version != "all" else []
        except SubjectNotFound:
            return []
        if version == "all" or level.transitive:
            rows = await self._pool.fetch(
                self._versions + "WHERE v.subject = $1 AND NOT v.deleted ORDER BY v.version", subject
            )
            live = [_version(r) for r in rows]
        return incompatibilities(level, text, [v.schema for v in live])


def _normalized(text: str) -> str:
    try:
        return normalize(text)
    except InvalidSchema as exc:
        raise InvalidSchemaError(f"Invalid schema: {exc}") from None


def _version(row: asyncpg.Record) -> SubjectVersion:
    return SubjectVersion(
        str(row["subject"]),
        int(row["version"]),
        int(row["schema_id"]),
        str(row["schema_text"]),
        str(row["schema_type"]),
    )
