"""Connector config rendering, table readiness, the Connect client and command encoding for CDC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pydantic_settings import SettingsError

from ragstream.codec import load_codec
from ragstream.contracts import DeleteDocument, UpsertDocument, encode_command
from ragstream.settings import CdcSettings, KafkaSettings, PostgresSettings, Settings
from ragstream.streams.cdc import ConnectError, InvalidMapping
from ragstream.streams.cdc.connect import ConnectClient
from ragstream.streams.cdc.connector import cdc_topic, database_for, redacted, render_config, resolve_password
from ragstream.streams.cdc.mapping import CdcMapping, parse_mapping
from ragstream.streams.cdc.pg import TableReport, readiness
from ragstream.streams.cdc.watch import connector_state
from ragstream.topics import Cleanup
from tests.unit.codecs import UNIT_CODEC

pytestmark = pytest.mark.unit


def settings(**postgres: Any) -> Settings:
    return Settings(
        kafka=KafkaSettings(topic_prefix="team1", partitions=3, replication_factor=1),
        postgres=PostgresSettings(
            **{
                "host": "db.local",
                "port": 5433,
                "user": "rag",
                "database": "docs",
                "password": SecretStr("pw"),
                **postgres,
            }
        ),
    )


def mapping(**extra: Any) -> CdcMapping:
    data: dict[str, Any] = {
        "name": "kb-articles",
        "table": "public.articles",
        "document": {
            "id": "id",
            "content": "body",
            "tenant": "team",
            "title": "title",
            "metadata": {"a": "author"},
        },
    }
    data.update(extra)
    return parse_mapping(data)


SECRET = "RAGSTREAM_CDC_SECRET_DOCS"


class TestRender:
    def test_settings_fill_the_template(self) -> None:
        m = mapping(database={"password_env": SECRET})
        config = render_config(m, settings(), environ={SECRET: "pw"})
        assert config["name"] == "kb-articles"
        assert config["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
        assert (config["database.hostname"], config["database.port"]) == ("db.local", "5433")
        assert (config["database.user"], config["database.password"], config["database.dbname"]) == (
            "rag",
            "${env:RAGSTREAM_CDC_SECRET_DOCS}",
            "docs",
        )
        assert config["topic.prefix"] == "team1.cdc"
        assert config["table.include.list"] == r"public\.articles"
        assert config["slot.name"] == config["publication.name"] == "ragstream_kb_articles"
        assert config["plugin.name"] == "pgoutput"
        assert config["publication.autocreate.mode"] == "filtered"
        assert config["snapshot.mode"] == "initial"
        assert config["topic.creation.default.partitions"] == "3"
        assert all("${" not in v for k, v in config.items() if k != "database.password")

    def test_change_events_are_avro_through_the_registry_in_confluent_framing(self) -> None:
        config = render_config(mapping(), settings(password=SecretStr("")))
        for side in ("key", "value"):
            assert config[f"{side}.converter"] == "io.apicurio.registry.utils.converter.AvroConverter"
            assert (
                config[f"{side}.converter.apicurio.registry.url"] == "http://127.0.0.1:18081/apis/registry/v2"
            )
            # A zero byte and the 4-byte id the Confluent API serves, not Apicurio's 8-byte global id
            # or ids in headers, so confluent_kafka's deserializer reads the records.
            assert config[f"{side}.converter.apicurio.registry.as-confluent"] == "true"
            assert config[f"{side}.converter.apicurio.registry.use-id"] == "contentId"
            assert config[f"{side}.converter.apicurio.registry.headers.enabled"] == "false"
        assert config["schema.name.adjustment.mode"] == "avro"

    def test_the_connect_workers_registry_address_is_a_setting(self) -> None:
        st = settings(password=SecretStr("")).model_copy(
            update={"cdc": CdcSettings(connect_registry_url="http://registry.internal:8080/apis/registry/v2")}
        )
        config = render_config(mapping(), st)
        assert (
            config["value.converter.apicurio.registry.url"]
            == "http://registry.internal:8080/apis/registry/v2"
        )

    def test_the_json_format_renders_the_connector_as_it_was_before_avro(self) -> None:
        st = settings(password=SecretStr("")).model_copy(update={"cdc": CdcSettings(connect_format="json")})
        config = render_config(mapping(), st)
        assert (
            config["value.converter"]
            == config["key.converter"]
            == "org.apache.kafka.connect.json.JsonConverter"
        )
        assert config["value.converter.schemas.enable"] == "false"
        assert config["value.converter.replace.null.with.default"] == "false"
        assert not [k for k in config if "apicurio" in k]

    def test_mapping_overrides_database_and_names(self) -> None:
        m = mapping(
            database={
                "host": "other",
                "port": 6000,
                "database": "cms",
                "user": "reader",
                "password_env": "RAGSTREAM_CDC_SECRET_CMS",
            },
            slot_name="my_slot",
            publication="my_pub",
        )
        config = render_config(m, settings(), environ={"RAGSTREAM_CDC_SECRET_CMS": "secret"})
        assert (config["database.hostname"], config["database.port"], config["database.dbname"]) == (
            "other",
            "6000",
            "cms",
        )
        assert config["database.user"] == "reader"
        assert (config["slot.name"], config["publication.name"]) == ("my_slot", "my_pub")
        assert (
            database_for(m, settings(), environ={"RAGSTREAM_CDC_SECRET_CMS": "secret"}).password == "secret"
        )

    def test_the_password_is_never_in_the_connector_config(self) -> None:
        m = mapping(database={"password_env": "RAGSTREAM_CDC_SECRET_CMS"})
        environ = {"RAGSTREAM_CDC_SECRET_CMS": "hunter2-secret"}
        for provider, reference in [
            ("env", "${env:RAGSTREAM_CDC_SECRET_CMS}"),
            ("file", "${file:/etc/connect/secrets.properties:RAGSTREAM_CDC_SECRET_CMS}"),
        ]:
            cdc = CdcSettings(
                connect_secret_provider=provider, connect_secrets_file="/etc/connect/secrets.properties"
            )
            config = render_config(m, settings().model_copy(update={"cdc": cdc}), environ=environ)
            assert config["database.password"] == reference
            assert "hunter2" not in json.dumps(config)
            # A reference names a variable, not a secret: shown as it is.
            assert redacted(config)["database.password"] == reference
            assert resolve_password(reference, settings(), environ) == "hunter2-secret"
        assert redacted({"database.password": "literal"})["database.password"] == "********"

    def test_a_password_needs_a_variable_the_connector_can_refer_to(self) -> None:
        with pytest.raises(
            InvalidMapping, match=r"name the variable that holds it in database\.password_env"
        ):
            render_config(mapping(), settings())
        # No password at all (a trust-authenticated dev database): nothing to refer to.
        assert render_config(mapping(), settings(password=SecretStr("")))["database.password"] == ""

    @pytest.mark.parametrize(
        "name",
        [
            "CMS_PW",
            "RAGSTREAM_AUTH__JWT_SECRET",
            "RAGSTREAM_CDC_SECRET_",
            "ragstream_cdc_secret_x",
            "RAGSTREAM_CDC_SECRET_A-B",
        ],
    )
    def test_password_env_may_only_name_variables_with_the_prefix(self, name: str) -> None:
        environ = {name: "leaked"}
        with pytest.raises(
            InvalidMapping, match="must be an upper-case variable name starting with RAGSTREAM_CDC_SECRET_"
        ):
            render_config(mapping(database={"password_env": name}), settings(), environ=environ)
        if "-" not in name:  # else it is no reference at all (a literal password)
            with pytest.raises(InvalidMapping, match="starting with RAGSTREAM_CDC_SECRET_"):
                resolve_password("${env:" + name + "}", settings(), environ)

    def test_the_prefix_is_a_setting(self) -> None:
        custom = settings().model_copy(update={"cdc": CdcSettings(secret_prefix="CMS_")})
        config = render_config(mapping(database={"password_env": "CMS_PW"}), custom, environ={"CMS_PW": "x"})
        assert config["database.password"] == "${env:CMS_PW}"

    def test_missing_password_variable(self) -> None:
        with pytest.raises(InvalidMapping, match="RAGSTREAM_CDC_SECRET_CMS is not set"):
            render_config(
                mapping(database={"password_env": "RAGSTREAM_CDC_SECRET_CMS"}), settings(), environ={}
            )

    def test_unknown_placeholder_in_template(self, tmp_path: Path) -> None:
        template = tmp_path / "t.json"
        template.write_text(json.dumps({"x": "${nope}"}))
        with pytest.raises(InvalidMapping, match="unknown placeholder"):
            render_config(mapping(), settings(password=SecretStr("")), template=template)

    def test_topic_matches_debezium_naming(self) -> None:
        topic = cdc_topic(mapping(), settings())
        assert topic.name == "team1.cdc.public.articles"
        assert topic.cleanup is Cleanup.COMPACT


class TestReadiness:
    report = TableReport("logical", True, "f", ("id", "team", "title", "body", "author"), ("id",))

    def test_ready(self) -> None:
        assert readiness(mapping(), self.report) == ([], [])

    def test_missing_table_and_columns_and_wal_level(self) -> None:
        errors, _ = readiness(mapping(), TableReport("replica", False))
        assert any("wal_level" in e for e in errors) and any("does not exist" in e for e in errors)
        report = TableReport("logical", True, "f", ("id", "body"), ("id",))
        errors, _ = readiness(mapping(), report)
        assert errors == ["public.articles has no column author, team, title"]

    def test_default_replica_identity(self) -> None:
        report = TableReport("logical", True, "d", self.report.columns, ("id",))
        errors, warnings = readiness(mapping(), report)
        # team is outside the primary key: deletes would carry its column default.
        assert len(errors) == 1 and "team" in errors[0] and "REPLICA IDENTITY FULL" in errors[0]
        assert len(warnings) == 1 and "TOAST" in warnings[0]
        report = TableReport("logical", True, "d", self.report.columns, ("id", "team"))
        errors, warnings = readiness(mapping(), report)
        assert errors == [] and len(warnings) == 1


class TestConnectClient:
    def client(self, handler: Any) -> ConnectClient:
        return ConnectClient("http://connect", attempts=3, backoff=0, transport=httpx.MockTransport(handler))

    def test_put_retries_a_rebalance(self) -> None:
        calls: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/validate"):
                return httpx.Response(200, json={"error_count": 0, "configs": [{"value": None}]})
            calls.append(request.url.path)
            if len(calls) == 1:
                return httpx.Response(409, json={"message": "rebalance in progress"})
            return httpx.Response(201, json={"name": "a", "config": json.loads(request.content)})

        assert self.client(handler).put_config("a", {"k": "v"})["config"] == {"k": "v"}
        assert calls == ["/connectors/a/config", "/connectors/a/config"]

    def test_invalid_config_reports_the_plugins_errors(self) -> None:
        paths: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            paths.append(request.url.path)
            error = 'database.hostname: FATAL: database "x" does not exist'
            configs = [{"value": {"name": "database.hostname", "errors": [error.split(": ", 1)[1]]}}]
            return httpx.Response(200, json={"error_count": 1, "configs": configs})

        with pytest.raises(ConnectError, match=r'database\.hostname: FATAL: database "x" does not exist'):
            self.client(handler).put_config("a", {"connector.class": "PostgresConnector"})
        assert paths == ["/connector-plugins/PostgresConnector/config/validate"]

    def test_client_errors_are_not_retried(self) -> None:
        calls: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(request.method)
            return httpx.Response(
                400, json={"error_code": 400, "message": "Connector configuration is invalid"}
            )

        with pytest.raises(ConnectError, match="configuration is invalid"):
            self.client(handler).info()
        assert calls == ["GET"]

    def test_unreachable_and_missing(self) -> None:
        def down(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused")

        with pytest.raises(ConnectError, match="unreachable"):
            self.client(down).info()
        missing = self.client(lambda r: httpx.Response(404, json={"message": "not found"}))
        assert missing.status("a") is None
        assert missing.delete("a") is False


class TestEncoding:
    def test_commands_encode_like_every_other_producer(self) -> None:
        codec = load_codec(UNIT_CODEC)
        upsert = UpsertDocument(tenant="acme", document_id="7", content="body", source={"via": "cdc"})
        delete = DeleteDocument(tenant="acme", document_id="8")
        encoded = [encode_command(codec, c) for c in (upsert, delete)]
        assert [e.key for e in encoded] == [b"acme/7", b"acme/8"]
        decoded = codec.decode(encoded[0].value)
        assert decoded.name == "UpsertDocument" and decoded.record["source"] == {"via": "cdc"}
        assert encoded[1].headers == {"command_id": delete.command_id.encode(), "type": b"DeleteDocument"}


class TestMappingPaths:
    def test_from_the_environment_as_a_json_list(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RAGSTREAM_CDC__MAPPINGS", '["a.yaml", "dir"]')
        assert Settings().cdc.mappings == [Path("a.yaml"), Path("dir")]
        monkeypatch.delenv("RAGSTREAM_CDC__MAPPINGS")
        assert Settings().cdc.mappings == []
        monkeypatch.setenv("RAGSTREAM_CDC__MAPPINGS", "a.yaml")
        with pytest.raises(SettingsError):
            Settings()


def test_a_connector_counts_as_failed_when_it_or_any_task_failed() -> None:
    running = {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}
    assert connector_state(running) == ("RUNNING", "")
    task_failed = {"connector": {"state": "RUNNING"}, "tasks": [{"state": "FAILED", "trace": "boom"}]}
    assert connector_state(task_failed) == ("FAILED", "boom")
    assert connector_state({"connector": {"state": "FAILED", "trace": "down"}, "tasks": []}) == (
        "FAILED",
        "down",
    )
    assert connector_state({}) == ("UNKNOWN", "")
