"""Authenticated Kafka: the local broker's SASL/PLAIN listener accepts the configured credentials from
every client (admin, producer, consumer, faust workers, the query node's feed) and refuses wrong ones."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from ragstream.kafka import create_topics, make_consumer, make_producer
from ragstream.local.pipeline import LocalPipeline
from ragstream.settings import KafkaSettings, Settings
from ragstream.topics import TopicSpec
from tests.integration.helpers import logs_on_failure, post_documents, search, token_of, wait_for_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def sasl_settings(local_stack: Settings, password: str | None = None) -> KafkaSettings:
    stack = local_stack.stack
    return KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{stack.kafka_sasl_port}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="ragstream",
        sasl_password=SecretStr(password or stack.kafka_sasl_password.get_secret_value()),
    )


async def round_trip(kafka: KafkaSettings, topic: str) -> bytes | None:
    await create_topics(kafka, [TopicSpec(topic, "SASL round trip")])
    producer = make_producer(kafka)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = make_consumer(kafka, topic, group_id=None)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        value: bytes | None = record.value
        return value
    finally:
        await consumer.stop()


def test_clients_authenticate_with_the_configured_credentials(local_stack: Settings) -> None:
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    assert asyncio.run(round_trip(sasl_settings(local_stack), topic)) == b"hello"


def test_a_wrong_password_is_refused(local_stack: Settings) -> None:
    async def connect() -> None:
        producer = make_producer(sasl_settings(local_stack, password="wrong"))
        try:
            await asyncio.wait_for(producer.start(), timeout=30)
        finally:
            await producer.stop()

    with pytest.raises(KafkaError):
        asyncio.run(connect())


@pytest.fixture(scope="module")
def sasl_pipeline(
    local_stack: Settings, pipeline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPipeline]:
    kafka = sasl_settings(local_stack)
    env = dict(
        pipeline_env,
        RAGSTREAM_KAFKA__BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        RAGSTREAM_KAFKA__SECURITY_PROTOCOL=kafka.security_protocol,
        RAGSTREAM_KAFKA__SASL_MECHANISM=kafka.sasl_mechanism,
        RAGSTREAM_KAFKA__SASL_USERNAME=kafka.sasl_username,
        RAGSTREAM_KAFKA__SASL_PASSWORD=kafka.sasl_password.get_secret_value(),
    )
    with logs_on_failure(LocalPipeline(env, Path(tmp_path_factory.mktemp("logs")))) as running:
        running.start()
        yield running


def test_the_whole_pipeline_runs_over_the_authenticated_listener(sasl_pipeline: LocalPipeline) -> None:
    written = post_documents(
        sasl_pipeline.command_url, [{"document_id": "sasl-doc", "content": "kerberos-free zebrafish"}]
    )
    wait_for_token(sasl_pipeline.query_url, token_of(written), timeout_s=120)
    hits = search(sasl_pipeline.query_url, "zebrafish", mode="bm25")
    assert [h["chunk_id"] for h in hits] == ["sasl-doc#v1#c0"]
