"""Renders a mapping into the Debezium PostgreSQL connector config (connectors/debezium-postgres.json)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ragstream.settings import PROJECT_ROOT, Settings
from ragstream.streams.cdc.exceptions import InvalidMapping
from ragstream.streams.cdc.mapping import CdcMapping
from ragstream.topics import Cleanup, TopicSpec, catalogue

TEMPLATE = PROJECT_ROOT / "connectors" / "debezium-postgres.json"
SECRET_KEYS = frozenset({"database.password"})
CONVERTER_KEYS = ("key.converter", "value.converter")
# `cdc.connect_format=json`: what connectors were applied with before Avro. Nulls stay null instead of
# becoming the column's default (which Apicurio's AvroConverter cannot be told; docs/schema-registry.md).
JSON_CONVERTERS = {
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": "false",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false",
    "value.converter.replace.null.with.default": "false",
}
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# A Kafka Connect config-provider reference: ${env:NAME} or ${file:PATH:NAME}.
REFERENCE = re.compile(r"^\$\{(?:env:(?P<env>[A-Za-z0-9_]+)|file:(?P<path>[^:}]+):(?P<key>[A-Za-z0-9_]+))\}$")


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    password: str
    database: str

    def connect_kwargs(self) -> dict[str, object]:
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password or None,
                "database": self.database}  # fmt: skip


def secret_variable(name: str, settings: Settings, context: str) -> str:
    """A variable a mapping may name for a password: only ones with the configured prefix, so a
    mapping file cannot make ragstream or Kafka Connect read any other secret of their environment."""
    prefix = settings.cdc.secret_prefix
    if not name.startswith(prefix) or not ENV_NAME.match(name) or name == prefix:
        raise InvalidMapping(
            f"{context}: password_env {name!r} must be an upper-case variable name starting with {prefix}"
            " (setting cdc.secret_prefix)"
        )
    return name


def database_for(
    mapping: CdcMapping, settings: Settings, environ: Mapping[str, str] = os.environ
) -> Database:
    """The mapping's database coordinates, falling back to the ragstream PostgreSQL settings; the
    password is what this process connects with (the connector gets a reference, password_reference)."""
    pg, override = settings.postgres, mapping.database
    password = pg.password.get_secret_value()
    if override.password_env:
        name = secret_variable(override.password_env, settings, f"mapping {mapping.name}")
        if name not in environ:
            raise InvalidMapping(f"mapping {mapping.name}: environment variable {name} is not set")
        password = environ[name]
    return Database(
        host=override.host or pg.host,
        port=override.port or pg.port,
        user=override.user or pg.user,
        password=password,
        database=override.database or pg.database,
    )


def cdc_topic(mapping: CdcMapping, settings: Settings) -> TopicSpec:
    """The table's Debezium topic, as the connector creates it (see topic.creation.* in the template).

    Compacted: it keeps the latest change per row, so a worker that was down long still catches up.
    """
    name = mapping.topic(catalogue(settings.kafka.topic_prefix).cdc_prefix)
    return TopicSpec(name, f"Debezium change events of {mapping.table}", cleanup=Cleanup.COMPACT)


def password_reference(mapping: CdcMapping, settings: Settings, db: Database) -> str:
    """What the connector config says for the password: never the password, which would sit in
    Connect's config topic and REST API, but a reference Kafka Connect resolves through a config
    provider when it starts the connector (see deploy/local/connect.sh)."""
    name = mapping.database.password_env
    if name is None:
        if db.password:
            raise InvalidMapping(
                f"mapping {mapping.name}: the database has a password, so name the variable that holds it in"
                f" database.password_env (starting with {settings.cdc.secret_prefix}); Kafka Connect reads it too"
            )
        return ""
    if settings.cdc.connect_secret_provider == "file":
        if not settings.cdc.connect_secrets_file:
            raise InvalidMapping("cdc.connect_secrets_file is required with cdc.connect_secret_provider=file")
        return f"${{file:{settings.cdc.connect_secrets_file}:{name}}}"
    return f"${{env:{name}}}"


def resolve_password(value: str, settings: Settings, environ: Mapping[str, str] = os.environ) -> str:
    """The password behind a connector config's reference, from this process's environment (the
    variable of the same name), for ragstream's own connections (dropping a replication slot)."""
    match = REFERENCE.match(value)
    if match is None:
        return value
    name = secret_variable(match["env"] or match["key"], settings, "connector config")
    if name not in environ:
        raise InvalidMapping(f"environment variable {name} (the connector's password) is not set")
    return environ[name]


def render_config(
    mapping: CdcMapping,
    settings: Settings,
    *,
    template: Path = TEMPLATE,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    db = database_for(mapping, settings, environ)
    values = {
        "connector_name": mapping.name,
        "database_host": db.host,
        "database_port": str(db.port),
        "database_user": db.user,
        "database_password": password_reference(mapping, settings, db),
        "database_name": db.database,
        "topic_prefix": catalogue(settings.kafka.topic_prefix).cdc_prefix,
        # A regex in Debezium: escape the dot so public.articles does not also match public_articles.
        "table_include_list": re.escape(mapping.schema_name) + r"\." + re.escape(mapping.table_name),
        "slot_name": mapping.slot,
        "publication_name": mapping.publication_name,
        "partitions": str(settings.kafka.partitions),
        "replication_factor": str(settings.kafka.replication_factor),
        "registry_url": connect_registry_url(settings),
    }
    try:
        raw = json.loads(template.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidMapping(f"cannot read the connector template {template}: {exc}") from exc
    config: dict[str, str] = {}
    for key, value in raw.items():
        try:
            config[key] = Template(str(value)).substitute(values)
        except (KeyError, ValueError) as exc:
            raise InvalidMapping(f"connector template {template}, {key}: unknown placeholder {exc}") from exc
    if settings.cdc.connect_format == "json":
        config = {k: v for k, v in config.items() if not k.startswith(CONVERTER_KEYS)} | JSON_CONVERTERS
    return config


def connect_registry_url(settings: Settings) -> str:
    """Where the connector's Avro converter finds the registry's Apicurio v2 API."""
    return settings.cdc.connect_registry_url or settings.codec.registry_url.rstrip("/") + "/apis/registry/v2"


def redacted(config: Mapping[str, str]) -> dict[str, str]:
    # A provider reference names a variable, not a secret: showing it says where the password comes from.
    return {
        k: ("********" if k in SECRET_KEYS and v and not REFERENCE.match(v) else v) for k, v in config.items()
    }
