"""Mapping files and the conversion of Debezium change events into document commands."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ragstream.contracts import ContentType, DeleteDocument, UpsertDocument
from ragstream.settings import PROJECT_ROOT
from ragstream.streams.cdc import (
    InvalidMapping,
    UnconvertibleEvent,
    load_mapping,
    load_mappings,
    to_command,
    to_commands,
)
from ragstream.streams.cdc.mapping import UNAVAILABLE, CdcMapping, parse_acl, parse_mapping

pytestmark = pytest.mark.unit

EXAMPLE = PROJECT_ROOT / "connectors" / "examples" / "articles.yaml"


def mapping(**document: Any) -> CdcMapping:
    spec: dict[str, Any] = {"id": "id", "title": "title", "content": "body"}
    spec.update(document)
    return parse_mapping({"name": "articles", "table": "public.articles", "document": spec})


def row(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": 7, "title": "Hello", "body": "Some body text.", "team": "acme"}
    base.update(values)
    return base


def event(op: str, *, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
          lsn: int = 29433648, snapshot: str | None = None, tx_id: int = 869) -> dict[str, Any]:  # fmt: skip
    # The shape the Debezium 3.6 PostgreSQL connector writes with the JSON converter, schemas disabled.
    return {
        "before": before,
        "after": after,
        "source": {
            "version": "3.6.1.Final",
            "connector": "postgresql",
            "name": "ragstream.cdc",
            "ts_ms": 1795874465356,
            "snapshot": snapshot,
            "db": "ragstream",
            "sequence": f'[null,"{lsn}"]',
            "schema": "public",
            "table": "articles",
            "txId": tx_id,
            "lsn": lsn,
            "xmin": None,
        },
        "transaction": None,
        "op": op,
        "ts_ms": 1795874465999,
    }


class TestOperations:
    def test_snapshot_read_is_an_upsert_with_its_position(self) -> None:
        cmd = to_command(event("r", after=row(), snapshot="last"), mapping(), position="t/0/5")
        assert isinstance(cmd, UpsertDocument)
        assert (cmd.tenant, cmd.document_id, cmd.title, cmd.content) == (
            "default",
            "7",
            "Hello",
            "Some body text.",
        )
        assert cmd.actor == "cdc:articles"
        assert cmd.document_version is None
        assert cmd.source["via"] == "cdc"
        assert cmd.source["snapshot"] == "last"
        assert cmd.source["lsn"] == "29433648"
        assert cmd.source["txId"] == "869"
        assert cmd.source["table"] == "public.articles"
        assert cmd.source["op"] == "r"
        assert cmd.source["position"] == "t/0/5"
        assert cmd.event_time.timestamp() == pytest.approx(1795874465.356)

    def test_insert_and_update_are_upserts(self) -> None:
        created = to_command(event("c", after=row()), mapping())
        updated = to_command(event("u", before=row(), after=row(title="New"), lsn=29433700), mapping())
        assert isinstance(created, UpsertDocument)
        assert isinstance(updated, UpsertDocument)
        assert updated.title == "New"
        assert created.source["snapshot"] == "false"  # null outside the snapshot
        assert created.command_id != updated.command_id

    def test_delete_reads_the_before_row_and_carries_no_version(self) -> None:
        cmd = to_command(event("d", before=row(revision=5)), mapping(version="revision"))
        assert isinstance(cmd, DeleteDocument)
        assert cmd.document_id == "7"
        assert cmd.document_version is None  # the deleted row's revision equals the indexed one: stale
        assert cmd.source["op"] == "d"

    def test_tombstone_is_none(self) -> None:
        assert to_command(None, mapping()) is None
        assert to_command(b"", mapping()) is None
        assert to_commands(None, mapping()) == []

    def test_json_bytes_and_schema_envelope(self) -> None:
        raw = json.dumps(event("c", after=row())).encode()
        wrapped = json.dumps({"schema": {"type": "struct"}, "payload": event("c", after=row())})
        assert to_command(raw, mapping()) == to_command(wrapped, mapping())

    def test_redelivered_change_keeps_its_command_id(self) -> None:
        first = to_command(event("u", after=row()), mapping())
        again = to_command(json.dumps(event("u", after=row())), mapping())
        later = to_command(event("u", after=row(), lsn=29433999), mapping())
        assert first is not None and again is not None and later is not None
        assert first.command_id == again.command_id
        assert first.command_id != later.command_id

    @pytest.mark.parametrize("op", ["t", "m", None, "x"])
    def test_unsupported_operation(self, op: str | None) -> None:
        with pytest.raises(UnconvertibleEvent, match="operation"):
            to_command(event("c", after=row()) | {"op": op}, mapping())

    def test_not_json(self) -> None:
        with pytest.raises(UnconvertibleEvent, match="not JSON"):
            to_command(b"{nope", mapping())

    def test_event_without_its_row(self) -> None:
        with pytest.raises(UnconvertibleEvent, match="without 'after'"):
            to_command(event("c"), mapping())
        with pytest.raises(UnconvertibleEvent, match="without 'before'"):
            to_command(event("d"), mapping())


class TestFields:
    def test_missing_column_names_it_and_the_table(self) -> None:
        with pytest.raises(
            UnconvertibleEvent, match=r"column 'summary' is not in the change event of public\.articles"
        ):
            to_command(event("c", after=row()), mapping(content="summary"))

    def test_tenant_and_prefix_and_content_type_columns(self) -> None:
        m = mapping(tenant="team", id_prefix="articles/", content_type="format")
        cmd = to_command(event("c", after=row(format="markdown")), m)
        assert isinstance(cmd, UpsertDocument)
        assert (cmd.tenant, cmd.document_id, cmd.content_type) == ("acme", "articles/7", ContentType.MARKDOWN)

    def test_content_type_constant_and_null(self) -> None:
        m = mapping(content_type={"constant": "text/html"})
        cmd = to_command(event("c", after=row()), m)
        assert isinstance(cmd, UpsertDocument) and cmd.content_type is ContentType.HTML
        cmd = to_command(event("c", after=row(format=None)), mapping(content_type="format"))
        assert isinstance(cmd, UpsertDocument) and cmd.content_type is ContentType.TEXT

    def test_a_bytea_column_becomes_a_binary_document_inline(self) -> None:
        pdf = b"%PDF-1.4 tiny"
        m = mapping(content_type={"constant": "application/pdf"})
        cmd = to_command(event("c", after=row(body=base64.b64encode(pdf).decode())), m)
        assert isinstance(cmd, UpsertDocument)
        assert (cmd.content_type, cmd.content_bytes, cmd.content) == (ContentType.PDF, pdf, "")
        with pytest.raises(UnconvertibleEvent, match="bytea column"):
            to_command(event("c", after=row(body="not base64 at all!")), m)

    def test_unknown_content_type(self) -> None:
        with pytest.raises(UnconvertibleEvent, match="content type 'pdf'"):
            to_command(event("c", after=row(format="pdf")), mapping(content_type="format"))

    def test_bad_tenant_value(self) -> None:
        with pytest.raises(UnconvertibleEvent, match="tenant 'no spaces'"):
            to_command(event("c", after=row(team="no spaces")), mapping(tenant="team"))

    def test_null_identity_on_delete_points_at_replica_identity(self) -> None:
        with pytest.raises(UnconvertibleEvent, match="REPLICA IDENTITY FULL"):
            to_command(event("d", before=row(team=None)), mapping(tenant="team"))

    def test_metadata_columns_and_constants(self) -> None:
        m = mapping(
            metadata={
                "author": "author",
                "price": "price",
                "draft": "draft",
                "tags": "tags",
                "missing": "gone",
                "origin": {"constant": "articles-db"},
                "long": "long",
            }
        )
        cmd = to_command(
            event(
                "c",
                after=row(
                    author="ann", price="3.50", draft=False, tags=["a", "b"], gone=None, long="x" * 5000
                ),
            ),
            m,
        )
        assert isinstance(cmd, UpsertDocument)
        assert cmd.metadata == {
            "author": "ann", "price": "3.50", "draft": "false", "tags": '["a","b"]', "origin": "articles-db",
            "long": "x" * 1024,
        }  # fmt: skip

    def test_version_column(self) -> None:
        m = mapping(version="revision")
        for value in (3, "3"):
            cmd = to_command(event("u", after=row(revision=value)), m)
            assert cmd is not None and cmd.document_version == 3
        for bad in (None, 0, "x", True):
            with pytest.raises(UnconvertibleEvent, match="version column 'revision'"):
                to_command(event("u", after=row(revision=bad)), m)

    def test_empty_content_deletes_by_default(self) -> None:
        for body in (None, "", "   "):
            cmd = to_command(event("u", after=row(body=body)), mapping())
            assert isinstance(cmd, DeleteDocument) and cmd.document_id == "7"
        with pytest.raises(UnconvertibleEvent, match="is empty"):
            to_command(event("u", after=row(body=None)), mapping(on_empty_content="error"))

    def test_unavailable_toasted_value_is_refused(self) -> None:
        with pytest.raises(UnconvertibleEvent, match="REPLICA IDENTITY FULL"):
            to_command(event("u", after=row(body=UNAVAILABLE)), mapping())

    def test_long_title_is_truncated_but_long_content_is_refused(self) -> None:
        cmd = to_command(event("c", after=row(title="t" * 3000)), mapping())
        assert isinstance(cmd, UpsertDocument) and len(cmd.title) == 1024
        with pytest.raises(UnconvertibleEvent, match="content"):
            to_command(event("c", after=row(body="b" * (2 * 1024 * 1024 + 1))), mapping())

    def test_invalid_document_id_on_delete(self) -> None:
        with pytest.raises(UnconvertibleEvent, match="document_id"):
            to_command(event("d", before=row(id="x" * 600)), mapping())

    def test_update_that_moves_a_row_deletes_the_old_document(self) -> None:
        m = mapping(tenant="team")
        commands = to_commands(event("u", before=row(team="acme"), after=row(team="beta")), m)
        assert [type(c) for c in commands] == [DeleteDocument, UpsertDocument]
        assert [(c.tenant, c.document_id) for c in commands] == [("acme", "7"), ("beta", "7")]
        assert commands[0].command_id != commands[1].command_id
        assert len(to_commands(event("u", before=row(), after=row(title="x")), m)) == 1


class TestAcl:
    def test_text_array(self) -> None:
        assert parse_acl(["group:eng", " user:ann ", None, "", "group:eng"]) == ["group:eng", "user:ann"]

    def test_comma_separated_text(self) -> None:
        assert parse_acl("group:eng, user:ann,,") == ["group:eng", "user:ann"]

    def test_default_kind_for_bare_names(self) -> None:
        assert parse_acl("eng, user:ann", "group") == ["group:eng", "user:ann"]

    def test_null_means_whole_tenant(self) -> None:
        assert parse_acl(None) == []

    def test_other_types_are_refused(self) -> None:
        with pytest.raises(UnconvertibleEvent, match="ACL"):
            parse_acl(42)

    def test_in_a_command(self) -> None:
        m = mapping(acl={"column": "readers", "default_kind": "group"})
        cmd = to_command(event("c", after=row(readers=["eng", "ops"])), m)
        assert isinstance(cmd, UpsertDocument) and cmd.acl == ["group:eng", "group:ops"]

    def test_bare_names_without_default_kind_are_invalid(self) -> None:
        with pytest.raises(UnconvertibleEvent, match="acl"):
            to_command(event("c", after=row(readers="eng")), mapping(acl="readers"))

    def test_constant(self) -> None:
        cmd = to_command(event("c", after=row()), mapping(acl={"constant": "group:eng,user:ann"}))
        assert isinstance(cmd, UpsertDocument) and cmd.acl == ["group:eng", "user:ann"]


class TestMappingFiles:
    def test_example_loads(self) -> None:
        m = load_mapping(EXAMPLE)
        assert (m.name, m.schema_name, m.table_name) == ("articles", "public", "articles")
        assert m.slot == "ragstream_articles" == m.publication_name
        assert m.topic("ragstream.cdc") == "ragstream.cdc.public.articles"
        assert m.document.version is not None and m.document.version.column == "revision"

    @pytest.mark.parametrize(
        ("document", "message"),
        [
            ({"id": "id"}, "document.content: Field required"),
            ({"id": {"constant": "x"}, "content": "body"}, "`id` must name a column"),
            (
                {"id": "id", "content": {"column": "body", "constant": "x"}},
                "exactly one of `column` or `constant`",
            ),
            (
                {"id": "id", "content": "body", "content_type": {"constant": "image/png"}},
                "content type",
            ),
            ({"id": "id", "content": "body", "tenant": {"constant": "bad tenant"}}, "tenant 'bad tenant'"),
            ({"id": "id", "content": "body", "colour": "red"}, "document.colour: Extra inputs"),
            ({"id": "id", "content": "bo-dy"}, "document.content.column"),
        ],
    )
    def test_invalid_documents(self, document: dict[str, Any], message: str) -> None:
        with pytest.raises(InvalidMapping, match="not a valid mapping") as info:
            parse_mapping({"name": "a", "table": "public.t", "document": document})
        assert message in str(info.value)

    @pytest.mark.parametrize("table", ["articles", "public.arti-cles", "a.b.c"])
    def test_table_must_be_schema_qualified(self, table: str) -> None:
        with pytest.raises(InvalidMapping, match="table"):
            parse_mapping({"name": "a", "table": table, "document": {"id": "id", "content": "body"}})

    def test_file_errors(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidMapping, match="cannot read mapping"):
            load_mapping(tmp_path / "missing.yaml")
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: [unclosed")
        with pytest.raises(InvalidMapping, match="not valid YAML"):
            load_mapping(bad)
        bad.write_text("- a list")
        with pytest.raises(InvalidMapping, match="must hold a YAML mapping"):
            load_mapping(bad)

    def test_folder_and_duplicates(self, tmp_path: Path) -> None:
        text = EXAMPLE.read_text()
        (tmp_path / "a.yaml").write_text(text)
        (tmp_path / "notes.txt").write_text("ignored")
        assert [m.name for m in load_mappings([tmp_path])] == ["articles"]
        (tmp_path / "b.yml").write_text(text.replace("name: articles", "name: other"))
        with pytest.raises(InvalidMapping, match=r"table public\.articles"):
            load_mappings([tmp_path])
