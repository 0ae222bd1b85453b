"""The REST API: Confluent Schema Registry's paths, bodies and error codes (Avro subjects only).

Errors are Confluent's `{"error_code", "message"}` rather than ragstream's Problem Details, because
the clients that call this API (confluent_kafka, Kafka serdes and converters) parse that shape.
The subset of Apicurio's v2 API that Apicurio's Kafka Connect converter calls is served next to it
(`ragstream.schemaregistry.apicurio`), on the same subjects and ids, with Apicurio's error shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from ragstream.schemaregistry import apicurio
from ragstream.schemaregistry.compat import Compatibility
from ragstream.schemaregistry.store import InvalidSchemaError, RegistryError, SchemaStore, SubjectVersion
from ragstream.settings import Settings

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaReference(BaseModel):
    name: str
    subject: str
    version: int


class SchemaIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    schema_text: str = Field(alias="schema")
    schema_type: str = Field(default="AVRO", alias="schemaType")
    references: list[SchemaReference] = Field(default_factory=list)

    def avro(self) -> str:
        if self.schema_type.upper() != "AVRO":
            raise InvalidSchemaError(
                f"Unsupported schema type {self.schema_type!r}: this registry serves AVRO only"
            )
        if self.references:
            raise InvalidSchemaError("Schema references are not supported by this registry")
        return self.schema_text


class CompatibilityIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    compatibility: Compatibility


async def _store(request: Request) -> SchemaStore:
    store: SchemaStore = request.app.state.store
    return store


Store = Annotated[SchemaStore, Depends(_store)]


def _answer(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def _version_body(v: SubjectVersion) -> dict[str, Any]:
    return {"subject": v.subject, "version": v.version, "id": v.schema_id, "schema": v.schema}


router = APIRouter()


@router.get("/")
async def root() -> JSONResponse:
    return _answer({})


@router.get("/schemas/types")
async def schema_types() -> JSONResponse:
    return _answer(["AVRO"])


@router.get("/schemas/ids/{schema_id}")
async def schema_by_id(schema_id: int, store: Store) -> JSONResponse:
    text, _ = await store.schema(schema_id)
    return _answer({"schema": text})


@router.get("/schemas/ids/{schema_id}/schema")
async def raw_schema_by_id(schema_id: int, store: Store) -> PlainTextResponse:
    text, _ = await store.schema(schema_id)
    return PlainTextResponse(text, media_type=MEDIA_TYPE)


@router.get("/schemas/ids/{schema_id}/subjects")
async def subjects_of_schema(schema_id: int, store: Store) -> JSONResponse:
    return _answer(sorted({subject for subject, _ in await store.usages(schema_id)}))


@router.get("/schemas/ids/{schema_id}/versions")
async def versions_of_schema(schema_id: int, store: Store) -> JSONResponse:
    return _answer([{"subject": s, "version": v} for s, v in await store.usages(schema_id)])


@router.get("/subjects")
async def subjects(store: Store) -> JSONResponse:
    return _answer(await store.subjects())


@router.get("/subjects/{subject}/versions")
async def subject_versions(subject: str, store: Store) -> JSONResponse:
    return _answer(await store.versions(subject))


@router.post("/subjects/{subject}/versions")
async def register(subject: str, body: SchemaIn, store: Store) -> JSONResponse:
    registered = await store.register(subject, body.avro())
    return _answer(_version_body(registered))


@router.post("/subjects/{subject}")
async def lookup(subject: str, body: SchemaIn, store: Store) -> JSONResponse:
    return _answer(_version_body(await store.lookup(subject, body.avro())))


@router.get("/subjects/{subject}/versions/{version}")
async def subject_version(subject: str, version: str, store: Store) -> JSONResponse:
    return _answer(_version_body(await store.version(subject, version)))


@router.get("/subjects/{subject}/versions/{version}/schema")
async def subject_version_schema(subject: str, version: str, store: Store) -> PlainTextResponse:
    return PlainTextResponse((await store.version(subject, version)).schema, media_type=MEDIA_TYPE)


@router.post("/compatibility/subjects/{subject}/versions/{version}")
async def check_against(
    subject: str, version: str, body: SchemaIn, store: Store, verbose: bool = False
) -> JSONResponse:
    return _compatibility_answer(await store.check(subject, body.avro(), version), verbose)


@router.post("/compatibility/subjects/{subject}/versions")
async def check_against_all(
    subject: str, body: SchemaIn, store: Store, verbose: bool = False
) -> JSONResponse:
    return _compatibility_answer(await store.check(subject, body.avro(), "all"), verbose)


def _compatibility_answer(problems: list[str], verbose: bool) -> JSONResponse:
    body: dict[str, Any] = {"is_compatible": not problems}
    if verbose:
        body["messages"] = problems
    return _answer(body)


@router.get("/config")
async def global_config(store: Store) -> JSONResponse:
    return _answer({"compatibilityLevel": (await store.compatibility(None) or Compatibility.BACKWARD).value})


@router.put("/config")
async def set_global_config(body: CompatibilityIn, store: Store) -> JSONResponse:
    await store.set_compatibility(None, body.compatibility)
    return _answer({"compatibility": body.compatibility.value})


@router.get("/config/{subject}")
async def subject_config(
    subject: str, store: Store, default_to_global: Annotated[bool, Query(alias="defaultToGlobal")] = False
) -> JSONResponse:
    level = await store.compatibility(subject, fallback=default_to_global)
    if level is None:
        return _answer(
            {
                "error_code": 40408,
                "message": f"Subject '{subject}' does not have subject-level compatibility configured",
            },
            404,
        )
    return _answer({"compatibilityLevel": level.value})


@router.put("/config/{subject}")
async def set_subject_config(subject: str, body: CompatibilityIn, store: Store) -> JSONResponse:
    await store.set_compatibility(subject, body.compatibility)
    return _answer({"compatibility": body.compatibility.value})


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    if request.url.path.startswith(apicurio.PREFIX):
        return JSONResponse(apicurio.error_body(exc), status_code=exc.status)
    return _answer({"error_code": exc.code, "message": exc.message}, exc.status)


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return _answer({"error_code": 422, "message": f"Unprocessable entity: {detail}"}, 422)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = await SchemaStore.connect(settings.postgres, settings.schema_registry.pg_schema)
        try:
            yield
        finally:
            await app.state.store.close()

    app = FastAPI(title="ragstream schema registry (Confluent-compatible)", lifespan=lifespan)
    app.include_router(router)
    app.include_router(apicurio.router)
    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app
