"""A PostgreSQL table as a document source, end to end on the real stack: Debezium on Kafka Connect,
writing Avro through Apicurio's converter and the stack's schema registry -> CDC processor ->
commands topic -> stream workers -> search (issue: Kafka Connect sources from databases; CDC in Avro).

Every name (connector, slot, publication, schema, topic prefix) is unique per run, and the connector,
its replication slot and the topics are removed at the end: an abandoned slot makes PostgreSQL keep WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from confluent_kafka.schema_registry.avro import AvroDeserializer

from ragstream.codec import registry_client
from ragstream.local.pipeline import LocalPipeline, isolated_env, settings_from_env
from ragstream.local.processes import ManagedProcess, free_port, wait_ready
from ragstream.settings import PROJECT_ROOT, Settings
from ragstream.streams.cdc.connector import cdc_topic
from ragstream.streams.cdc.mapping import load_mapping
from ragstream.topics import catalogue, document_key
from tests.conftest import unique_tag
from tests.integration.helpers import decoded_records, delete_topics, read_topic, search, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

CONNECT_URL = f"http://127.0.0.1:{os.environ.get('RAGSTREAM_STACK__CONNECT_PORT', '18083')}"


@dataclass
class Source:
    tag: str
    env: dict[str, str]
    settings: Settings
    schema: str
    mapping_file: Path
    work: Path

    @property
    def table(self) -> str:
        return f"{self.schema}.articles"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ragstream.cli.connectors", *args],
            env={**os.environ, **self.env, "RAGSTREAM_CONNECT__URL": CONNECT_URL, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def sql(self, *statements: str) -> list[Any]:
        async def run() -> list[Any]:
            pg = self.settings.postgres
            conn = await asyncpg.connect(host=pg.host, port=pg.port, user=pg.user, database=pg.database)
            try:
                return [await conn.fetch(s) for s in statements]
            finally:
                await conn.close()

        return asyncio.run(run())


def start_cdc_worker(source: Source) -> ManagedProcess:
    """The standalone CDC worker (`ragstream connectors worker`), so the stream workers stay as they are."""
    port = free_port()
    log_path = source.work / "cdc-worker.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "ragstream.cli.connectors", "worker", str(source.mapping_file),
             "--web-port", str(port)],
            env={**os.environ, **source.env, "PYTHONUNBUFFERED": "1"},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    process = ManagedProcess("cdc-worker", popen, log_path)
    wait_ready(process, f"http://127.0.0.1:{port}/health", timeout=120)
    return process


@pytest.fixture(scope="module")
def connect(local_stack: Settings) -> str:
    result = subprocess.run(
        ["bash", str(PROJECT_ROOT / "deploy" / "local" / "connect.sh"), "start"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"Kafka Connect did not start:\n{result.stderr}"
    assert httpx.get(CONNECT_URL, timeout=5).status_code == 200
    return CONNECT_URL


@pytest.fixture(scope="module")
def source(connect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    with table_source(tmp_path_factory, "cdc") as src:
        yield src


@contextlib.contextmanager
def table_source(tmp_path_factory: pytest.TempPathFactory, prefix: str, **extra_env: str) -> Iterator[Source]:
    """A table with two rows and its mapping, in an environment of its own; the connector, slot,
    table and topics are removed at the end."""
    tag = unique_tag(prefix)
    work = Path(tmp_path_factory.mktemp(tag))
    # The password travels to Kafka Connect as a reference to this variable, never as the value (the
    # local database trusts local connections, so the value is not checked there; see
    # test_connect_secrets.py for the worker resolving it).
    secret = f"RAGSTREAM_CDC_SECRET_{tag.upper()}"
    env = isolated_env(tag, work, **{secret: f"s3cret-{tag}"}, **extra_env)
    schema = f"{tag}_src"
    mapping_file = work / "articles.yaml"
    mapping_file.write_text(
        textwrap.dedent(f"""\
            name: {tag}
            table: {schema}.articles
            database: {{password_env: {secret}}}
            document:
              id: id
              id_prefix: "articles/"
              title: title
              content: body
              content_type: {{constant: text/markdown}}
              tenant: team
              acl: {{column: readers, default_kind: group}}
              metadata: {{team: team, origin: {{constant: cdc-test}}}}
              version: revision
        """)
    )
    src = Source(tag, env, settings_from_env(env), schema, mapping_file, work)
    src.sql(
        f"CREATE SCHEMA {schema}",
        f"""CREATE TABLE {src.table} (id bigint PRIMARY KEY, team text NOT NULL, title text NOT NULL, body text,
            readers text[], revision integer NOT NULL DEFAULT 1)""",
        # Rows that exist before the connector: they arrive through the initial snapshot.
        f"""INSERT INTO {src.table} (id, team, title, body, readers) VALUES
            (1, 'acme', 'Alpha', 'Alpha explains how zebras graze on the open savanna.', NULL),
            (2, 'acme', 'Beta', 'Beta is about giraffes and their long necks.', '{{eng}}')""",
    )
    try:
        yield src
    finally:
        deleted = src.cli("delete", tag)
        slots = src.sql(f"SELECT 1 FROM pg_replication_slots WHERE slot_name = 'ragstream_{tag}'")[0]
        src.sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        delete_topics(src.settings, tag, f"__debezium-heartbeat.{tag}")
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
        assert not slots, "the replication slot survived the connector"


@pytest.fixture(scope="module")
def running(source: Source) -> Iterator[tuple[Source, LocalPipeline]]:
    applied = source.cli("apply", str(source.mapping_file), "--replica-identity-full")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"connector {source.tag}: created" in applied.stdout
    assert "RUNNING" in applied.stdout
    stored = httpx.get(f"{CONNECT_URL}/connectors/{source.tag}/config", timeout=10).json()
    assert stored["database.password"] == f"${{env:RAGSTREAM_CDC_SECRET_{source.tag.upper()}}}"
    tasks = httpx.get(f"{CONNECT_URL}/connectors/{source.tag}/tasks", timeout=10).text
    assert f"s3cret-{source.tag}" not in tasks + str(stored)  # not in Connect's REST API
    group = os.environ.get("RAGSTREAM_STACK__CONNECT_GROUP", "ragstream-connect")
    config_topic = asyncio.run(read_topic(source.settings, f"{group}-configs"))
    assert config_topic and not any(
        f"s3cret-{source.tag}".encode() in (m.value or b"") for *_, m in config_topic
    )
    again = source.cli("apply", str(source.mapping_file))
    assert again.returncode == 0 and f"connector {source.tag}: unchanged" in again.stdout, again.stdout
    pipeline = LocalPipeline(source.env, source.work / "logs")
    worker: ManagedProcess | None = None
    try:
        worker = start_cdc_worker(source)
        pipeline.start(command_api=False)
        yield source, pipeline
    except Exception:
        for proc in [*pipeline.processes.values(), *([worker] if worker else [])]:
            print(f"--- {proc.name} log ---\n{proc.log_tail(60)}")
        raise
    finally:
        if worker is not None:
            worker.stop()
        pipeline.stop()


def hits(pipeline: LocalPipeline, query: str, tenant: str = "acme", principals: str = "") -> set[str]:
    found = search(pipeline.query_url, query, tenant=tenant, principals=principals, mode="bm25")
    return {h["document_id"] for h in found}


def commands_by_document(
    source: Source, expected: int
) -> dict[tuple[str, str], list[tuple[str, dict[str, Any]]]]:
    """The commands topic grouped by document, in log order (one document stays in one partition)."""
    topic = catalogue(source.settings.kafka.topic_prefix).commands.name
    records: list[Any] = []

    def enough() -> bool:
        records[:] = decoded_records(source.settings, topic)
        return len(records) >= expected

    wait_until(enough, timeout=60, interval=1)
    grouped: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for _, _, key, decoded in sorted(records, key=lambda r: (r[0], r[1])):
        record = decoded.record
        assert key == document_key(record["tenant"], record["document_id"])
        grouped[(record["tenant"], record["document_id"])].append((decoded.name, record))
    return grouped


def test_every_change_of_the_table_reaches_search(running: tuple[Source, LocalPipeline]) -> None:
    source, pipeline = running

    # The snapshot: both rows are searchable, the ACL'd one only for its group.
    wait_until(lambda: hits(pipeline, "zebras") == {"articles/1"}, timeout=90)
    wait_until(lambda: hits(pipeline, "giraffes", principals="group:eng") == {"articles/2"}, timeout=30)
    assert hits(pipeline, "giraffes") == set()

    source.sql(
        f"INSERT INTO {source.table} (id, team, title, body) VALUES (3, 'acme', 'Gamma', 'Gamma: pelicans dive.')",
        f"UPDATE {source.table} SET title = 'Alpha v2', body = 'Alpha now covers ocelots at night.', revision = 2 "
        "WHERE id = 1",
        f"DELETE FROM {source.table} WHERE id = 2",
        # Not a valid tenant: dead-lettered, and the table's other changes keep flowing.
        f"INSERT INTO {source.table} (id, team, title, body) VALUES (4, 'no such tenant!', 'Bad', 'Bad row.')",
    )
    wait_until(lambda: hits(pipeline, "ocelots") == {"articles/1"}, timeout=60)
    wait_until(lambda: hits(pipeline, "giraffes", principals="group:eng") == set(), timeout=30)
    wait_until(lambda: hits(pipeline, "pelicans") == {"articles/3"}, timeout=30)
    assert hits(pipeline, "zebras") == set()

    # A row that moves to another tenant leaves the old one.
    source.sql(f"UPDATE {source.table} SET team = 'beta' WHERE id = 3")
    wait_until(lambda: hits(pipeline, "pelicans", tenant="beta") == {"articles/3"}, timeout=60)
    wait_until(lambda: hits(pipeline, "pelicans") == set(), timeout=30)

    commands = commands_by_document(source, expected=7)
    kinds = {doc: [name for name, _ in cmds] for doc, cmds in commands.items()}
    assert kinds == {
        ("acme", "articles/1"): ["UpsertDocument", "UpsertDocument"],
        ("acme", "articles/2"): ["UpsertDocument", "DeleteDocument"],
        ("acme", "articles/3"): ["UpsertDocument", "DeleteDocument"],
        ("beta", "articles/3"): ["UpsertDocument"],
    }
    (_, snap), (_, update) = commands[("acme", "articles/1")]
    assert snap["source"]["op"] == "r" and snap["source"]["snapshot"] != "false"
    assert (snap["title"], snap["document_version"], snap["content_type"]) == ("Alpha", 1, "text/markdown")
    assert update["source"]["op"] == "u" and update["source"]["snapshot"] == "false"
    assert (update["title"], update["document_version"]) == ("Alpha v2", 2)
    assert int(update["source"]["lsn"]) > int(snap["source"]["lsn"])
    assert update["source"]["table"] == source.table and update["source"]["txId"]
    assert update["metadata"] == {"team": "acme", "origin": "cdc-test"}
    assert update["actor"] == f"cdc:{source.tag}"
    (_, beta), (_, deleted) = commands[("acme", "articles/2")]
    assert beta["acl"] == ["group:eng"]
    assert deleted["source"]["op"] == "d" and deleted["document_version"] is None

    dlq = catalogue(source.settings.kafka.topic_prefix).dlq.name
    dead: list[dict[str, bytes]] = []

    def dead_lettered() -> bool:
        dead[:] = [dict(m.headers) for _, _, _, m in asyncio.run(read_topic(source.settings, dlq))]
        return bool(dead)

    wait_until(dead_lettered, timeout=30, interval=1)
    assert [(h["processor"], h["error_type"]) for h in dead] == [(b"cdc_changes", b"UnconvertibleEvent")]
    assert b"no such tenant!" in dead[0]["error"]

    status = source.cli("status")
    assert status.returncode == 0 and source.tag in status.stdout, status.stdout


def test_change_events_are_confluent_framed_avro_with_ids_the_registry_serves(
    running: tuple[Source, LocalPipeline],
) -> None:
    source, _ = running
    topic = cdc_topic(load_mapping(source.mapping_file), source.settings).name
    records: list[Any] = []

    def snapshot_read() -> bool:
        records[:] = [r for r in asyncio.run(read_topic(source.settings, topic)) if r[3].value]
        return len(records) >= 2

    wait_until(snapshot_read, timeout=90, interval=1)
    registry = source.settings.codec.registry_url
    client = registry_client(registry)
    # Apicurio's TopicIdStrategy names subjects as Confluent's does.
    subjects: dict[str, set[int]] = {f"{topic}-key": set(), f"{topic}-value": set()}
    for subject in subjects:
        versions = httpx.get(f"{registry}/subjects/{subject}/versions", timeout=10).json()
        subjects[subject] = {
            httpx.get(f"{registry}/subjects/{subject}/versions/{v}", timeout=10).json()["id"]
            for v in versions
        }
    reader = AvroDeserializer(client)  # any Confluent reader: the writer schema comes by id
    ops = []
    for _, _, key, message in records:
        for data, subject in ((key, f"{topic}-key"), (message.value, f"{topic}-value")):
            assert data is not None and data[0] == 0, "not the Confluent wire format"
            schema_id = int.from_bytes(data[1:5], "big")
            assert schema_id in subjects[subject]
            # The same schema under the same id from the Apicurio API the converter registered it through.
            apicurio = httpx.get(f"{registry}/apis/registry/v2/ids/contentIds/{schema_id}", timeout=10)
            assert json.loads(apicurio.text) == json.loads(client.get_schema(schema_id).schema_str)
        key_fields = reader(key, None)
        value = reader(message.value, None)
        assert set(key_fields) == {"id"}
        ops.append(value["op"])
        row = value["after"] or value["before"]
        assert value["source"]["table"] == "articles" and row["id"] == key_fields["id"]
    assert ops.count("r") >= 2  # the snapshot's rows, read like every later change


def test_a_connector_applied_with_the_json_converter_keeps_working(
    connect: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A deployment whose connector still writes JSON (`cdc.connect_format=json`, as before Avro)."""
    with table_source(tmp_path_factory, "cdcj", RAGSTREAM_CDC__CONNECT_FORMAT="json") as src:
        applied = src.cli("apply", str(src.mapping_file), "--replica-identity-full")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        stored = httpx.get(f"{CONNECT_URL}/connectors/{src.tag}/config", timeout=10).json()
        assert stored["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
        topic = cdc_topic(load_mapping(src.mapping_file), src.settings).name
        worker = start_cdc_worker(src)
        try:
            commands = commands_by_document(src, expected=2)
            assert {doc: [name for name, _ in cmds] for doc, cmds in commands.items()} == {
                ("acme", "articles/1"): ["UpsertDocument"],
                ("acme", "articles/2"): ["UpsertDocument"],
            }
            assert commands[("acme", "articles/2")][0][1]["acl"] == ["group:eng"]
        except Exception:
            print(f"--- cdc worker log ---\n{worker.log_tail(60)}")
            raise
        finally:
            worker.stop()
        values = [m.value for *_, m in asyncio.run(read_topic(src.settings, topic)) if m.value]
        assert values and all(v.startswith(b"{") for v in values)
