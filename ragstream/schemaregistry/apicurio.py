"""The calls of Apicurio Registry's v2 API that Apicurio's Kafka serdes and Connect converter (2.6.x)
make, on the same subjects and ids as the Confluent API.

Apicurio's AvroConverter is the Avro converter for Kafka Connect that Maven Central serves
(Confluent's is not there), so Debezium writes its change events through these calls. Configured
with `apicurio.registry.as-confluent=true` and `apicurio.registry.use-id=contentId`, it frames
records as Confluent's serdes do (zero byte, 4-byte id), and the id it writes is the id the
Confluent API serves, so every Confluent reader resolves it. An artifact of the `default` group is
the subject of the same name (the converter's TopicIdStrategy gives `<topic>-value`, as Confluent's
does); any other group prefixes it with a dot (`group.artifact`, the record-name strategy).

What the client calls and parses was read from the 2.6.13 sources (`RegistryClientImpl`,
`DefaultSchemaResolver`, `Routes`): a globalId and a contentId per version (both the schema's id
here: one id names one schema text), `VersionMetaData`/`ArtifactMetaData` bodies, raw content by id,
empty reference lists (no references here), and errors as `{"error_code", "message", "name"}`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ragstream.schemaregistry.store import (
    IncompatibleSchema,
    InvalidSchemaError,
    InvalidVersion,
    RegistryError,
    SchemaNotFound,
    SchemaStore,
    SubjectNotFound,
    SubjectVersion,
    VersionNotFound,
)

PREFIX = "/apis/registry/v2"
# The body of a create call that carries references: {"content": ..., "references": [...]}.
EXTENDED = "application/create.extended+json"
DEFAULT_GROUP = "default"


class IfExists(StrEnum):
    """What a create does when the artifact exists (Apicurio 2's `ifExists`)."""

    FAIL = "FAIL"
    UPDATE = "UPDATE"
    RETURN = "RETURN"
    RETURN_OR_UPDATE = "RETURN_OR_UPDATE"


class ArtifactExists(RegistryError):
    status, code = 409, 409


# Apicurio's client maps an error to a typed exception by its `name`.
_ERROR_NAMES: dict[type[RegistryError], str] = {
    SubjectNotFound: "ArtifactNotFoundException",
    VersionNotFound: "VersionNotFoundException",
    SchemaNotFound: "ContentNotFoundException",
    IncompatibleSchema: "RuleViolationException",
    InvalidSchemaError: "InvalidArtifactException",
    InvalidVersion: "BadRequestException",
    ArtifactExists: "ArtifactAlreadyExistsException",
}


def error_body(exc: RegistryError) -> dict[str, Any]:
    """Apicurio's error shape: its client reads `error_code` as the HTTP status."""
    return {"error_code": exc.status, "message": exc.message, "name": _ERROR_NAMES.get(type(exc), "Error")}


async def _store(request: Request) -> SchemaStore:
    store: SchemaStore = request.app.state.store
    return store


Store = Annotated[SchemaStore, Depends(_store)]
router = APIRouter(prefix=PREFIX)


def subject_of(group: str, artifact: str) -> str:
    return artifact if group in (DEFAULT_GROUP, "null", "") else f"{group}.{artifact}"


def _version_meta(group: str, artifact: str, version: SubjectVersion) -> dict[str, Any]:
    return {
        "groupId": group, "id": artifact, "version": str(version.version), "type": "AVRO",
        "globalId": version.schema_id, "contentId": version.schema_id, "state": "ENABLED",
    }  # fmt: skip


def _json(body: Any) -> JSONResponse:
    return JSONResponse(body)


async def _content(request: Request) -> str:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSchemaError("Invalid schema: the content is not UTF-8") from None
    if request.headers.get("content-type", "").startswith(EXTENDED):
        try:
            extended = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidSchemaError(f"Invalid request body: {exc}") from None
        if not isinstance(extended, dict) or not isinstance(extended.get("content"), str):
            raise InvalidSchemaError('Invalid request body: expected {"content": "...", "references": [...]}')
        if extended.get("references"):
            raise InvalidSchemaError("Schema references are not supported by this registry")
        text = extended["content"]
    if not text.strip():
        raise InvalidSchemaError("Invalid schema: the content is empty")
    return text


def _version_number(version: str) -> str:
    """Apicurio numbers versions as strings; "latest" names the newest, as in the Confluent API."""
    return "latest" if version.lower() == "latest" else version


@router.post("/groups/{group}/artifacts")
async def create_artifact(
    group: str,
    request: Request,
    store: Store,
    artifact: Annotated[str | None, Header(alias="X-Registry-ArtifactId")] = None,
    artifact_type: Annotated[str, Header(alias="X-Registry-ArtifactType")] = "AVRO",
    if_exists: Annotated[IfExists, Query(alias="ifExists")] = IfExists.FAIL,
) -> JSONResponse:
    """Registers the content as the artifact's next version under the subject's compatibility rule.
    The same content again gives the version that holds it (one id per schema text, as in the
    Confluent API), so FAIL refuses only an artifact that exists, and RETURN gives the latest."""
    if not artifact:
        raise InvalidSchemaError("X-Registry-ArtifactId is required by this registry")
    if artifact_type.upper() != "AVRO":
        raise InvalidSchemaError(
            f"Unsupported artifact type {artifact_type!r}: this registry serves AVRO only"
        )
    subject = subject_of(group, artifact)
    content = await _content(request)
    if if_exists in (IfExists.FAIL, IfExists.RETURN):
        try:
            latest = await store.version(subject, "latest")
        except SubjectNotFound:
            pass
        else:
            if if_exists is IfExists.FAIL:
                raise ArtifactExists(f"An artifact with ID '{artifact}' in group '{group}' already exists.")
            return _json(_version_meta(group, artifact, latest))
    return _json(_version_meta(group, artifact, await store.register(subject, content)))


@router.post("/groups/{group}/artifacts/{artifact}/meta")
async def version_meta_by_content(group: str, artifact: str, request: Request, store: Store) -> JSONResponse:
    """The version holding this content (what the serializer asks without auto-registration)."""
    found = await store.lookup(subject_of(group, artifact), await _content(request))
    return _json(_version_meta(group, artifact, found))


@router.get("/groups/{group}/artifacts/{artifact}/meta")
async def artifact_meta(group: str, artifact: str, store: Store) -> JSONResponse:
    latest = await store.version(subject_of(group, artifact), "latest")
    return _json({**_version_meta(group, artifact, latest), "references": []})


@router.get("/groups/{group}/artifacts/{artifact}/versions/{version}/meta")
async def version_meta(group: str, artifact: str, version: str, store: Store) -> JSONResponse:
    found = await store.version(subject_of(group, artifact), _version_number(version))
    return _json(_version_meta(group, artifact, found))


@router.get("/groups/{group}/artifacts/{artifact}")
async def latest_content(group: str, artifact: str, store: Store) -> PlainTextResponse:
    return _schema_text((await store.version(subject_of(group, artifact), "latest")).schema)


@router.get("/groups/{group}/artifacts/{artifact}/versions/{version}")
async def version_content(group: str, artifact: str, version: str, store: Store) -> PlainTextResponse:
    return _schema_text((await store.version(subject_of(group, artifact), _version_number(version))).schema)


@router.get("/groups/{group}/artifacts/{artifact}/versions/{version}/references")
async def version_references(group: str, artifact: str, version: str, store: Store) -> JSONResponse:
    await store.version(subject_of(group, artifact), _version_number(version))
    return _json([])


@router.get("/ids/globalIds/{schema_id}")
@router.get("/ids/contentIds/{schema_id}")
async def content_by_id(
    schema_id: int,
    store: Store,
    canonical: bool = False,  # accepted for the client; ids name one normalised schema text anyway
    dereference: bool = False,  # no references here, so every schema is already dereferenced
) -> PlainTextResponse:
    text, _ = await store.schema(schema_id)
    return _schema_text(text)


@router.get("/ids/globalIds/{schema_id}/references")
@router.get("/ids/contentIds/{schema_id}/references")
async def references_by_id(schema_id: int, store: Store) -> JSONResponse:
    await store.schema(schema_id)
    return _json([])


def _schema_text(text: str) -> PlainTextResponse:
    return PlainTextResponse(text, media_type="application/json")
