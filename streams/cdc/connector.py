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


def database_for(
    mapping: CdcMapping, settings: Settings, environ: Mapping[str, str] = os.environ
) -> Database:
    """The mapping's database coordinates, falling back to the ragstream PostgreSQL settings."""
    pg, override = settings.postgres, mapping.database
    password = pg.password.get_secret_value()
    if override.password_env:
        if override.password_env not in environ:
            raise InvalidMapping(
                f"mapping {mapping.name}: environment variable {override.password_env} is not set"
            )
        password = environ[override.password_env]
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
        "database_password": db.password,
        "database_name": db.database,
        "topic_prefix": catalogue(settings.kafka.topic_prefix).cdc_prefix,
        # A regex in Debezium: escape the dot so public.articles does not also match public_articles.
        "table_include_list": re.escape(mapping.schema_name) + r"\." + re.escape(mapping.table_name),
        "slot_name": mapping.slot,
        "publication_name": mapping.publication_name,
        "partitions": str(settings.kafka.partitions),
        "replication_factor": str(settings.kafka.replication_factor),
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
    return config


def redacted(config: Mapping[str, str]) -> dict[str, str]:
    return {k: ("********" if k in SECRET_KEYS and v else v) for k, v in config.items()}
