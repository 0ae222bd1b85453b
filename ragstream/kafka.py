"""Kafka client factories with the settings every ragstream client shares."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from ragstream.settings import KafkaSettings
from ragstream.topics import TopicSpec


def make_producer(settings: KafkaSettings, *, client_suffix: str = "producer") -> AIOKafkaProducer:
    # Idempotent producer: a retried send never duplicates or reorders a document's commands.
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-{client_suffix}",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_request_size=settings.max_message_bytes,
        compression_type="lz4" if has_lz4() else None,
        **security_options(settings),
    )


def make_consumer(
    settings: KafkaSettings,
    *topics: str,
    group_id: str | None,
    from_beginning: bool = True,
    role: str = "consumer",
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-{role}",
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=settings.max_message_bytes,
        fetch_max_bytes=4 * settings.max_message_bytes,
        **security_options(settings),
    )


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The partitions of one topic ([] when it does not exist), asked of the broker for that topic
    alone and without creating it.

    aiokafka's public ways to learn them either ask for every topic of the cluster
    (`AIOKafkaClient.fetch_all_metadata`: on a broker holding thousands of topics the answer takes
    ~0.2 s of CPU to decode, on the caller's event loop) or let a broker with auto-creation create
    a missing topic (`AIOKafkaAdminClient.describe_topics`, a subscription). So this sends
    aiokafka's own MetadataRequest for the one topic, auto-creation off, through the started
    consumer's client (`AIOKafkaClient.send`, reached through the private `_client`).
    """
    client = consumer._client
    node = client.get_random_node()
    if node is None:
        raise KafkaConnectionError("no broker known to ask for the partitions of " + topic)
    response = await client.send(node, MetadataRequest([topic], allow_auto_topic_creation=False))
    described = response.to_object()["topics"]
    return sorted(
        p["partition"]
        for t in described
        if t["topic"] == topic and t["error_code"] == 0
        for p in t["partitions"]
    )


def make_admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-admin",
        **security_options(settings),
    )


@contextlib.asynccontextmanager
async def admin_client(settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed at the end."""
    admin = make_admin(settings)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def create_topics(settings: KafkaSettings, specs: list[TopicSpec]) -> list[str]:
    """Create missing topics; returns the names that were created. Existing topics are left as they are."""
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            new = [
                NewTopic(
                    s.name, settings.partitions, settings.replication_factor, topic_configs=s.config(settings)
                )
                for s in missing
            ]
            # Another process winning the race is what we wanted anyway.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        return [s.name for s in missing]


async def topic_names(settings: KafkaSettings) -> set[str]:
    """The names of the broker's topics."""
    async with admin_client(settings) as admin:
        return set(await admin.list_topics())


async def delete_topics(settings: KafkaSettings, *prefixes: str) -> list[str]:
    """Delete the broker's topics whose names start with any of `prefixes`; returns their names."""
    async with admin_client(settings) as admin:
        names = sorted(t for t in await admin.list_topics() if t.startswith(prefixes))
        if names:
            await admin.delete_topics(names)
        return names


def has_lz4() -> bool:
    """Whether aiokafka can (de)compress lz4 (its `lz4` extra, cramjam): every consumer here is
    aiokafka's, so a producer compresses with lz4 only when they can read it."""
    from aiokafka.codec import has_lz4

    return bool(has_lz4())


def security_options(settings: KafkaSettings) -> dict[str, Any]:
    """The aiokafka keyword arguments for the configured listener security (TLS, SASL)."""
    options: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    context: ssl.SSLContext = create_ssl_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
        certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
    )
    return context


def faust_credentials(settings: KafkaSettings) -> Any:
    """The same security for a faust app (`broker_credentials`); None for plaintext."""
    import faust

    if settings.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            mechanism=settings.sasl_mechanism,
            ssl_context=ssl_context(settings) if settings.security_protocol == "SASL_SSL" else None,
        )
    if settings.security_protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    return None
