"""The Kafka producers behind the producer SDK: confluent-kafka (librdkafka) or aiokafka.

Both are idempotent (acks=all, no duplicates or reordering on retries), batch with a short linger
and compress with lz4; `ragstream bench produce` compares them and `kafka.producer_client` picks
one. Each `send` returns an awaitable that resolves to the record's position once the broker acks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

import confluent_kafka
from aiokafka.errors import KafkaError

from ragstream.commands.exceptions import CommandNotWritten
from ragstream.contracts import WritePosition
from ragstream.kafka import has_lz4, make_producer
from ragstream.settings import KafkaSettings

Headers = Sequence[tuple[str, bytes]]


class Producer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ping(self) -> bool: ...

    async def send(
        self, topic: str, *, key: bytes, value: bytes, headers: Headers
    ) -> Awaitable[WritePosition]:
        """Hands the record to the client; the returned awaitable resolves when the broker acks it
        (CommandNotWritten if it does not)."""
        ...


class AiokafkaProducer:
    def __init__(self, settings: KafkaSettings, client_suffix: str) -> None:
        self._producer = make_producer(settings, client_suffix=client_suffix)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def ping(self) -> bool:
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=5)
        except (KafkaError, TimeoutError, OSError):
            return False
        return True

    async def send(
        self, topic: str, *, key: bytes, value: bytes, headers: Headers
    ) -> Awaitable[WritePosition]:
        try:
            pending = await self._producer.send(topic, value=value, key=key, headers=list(headers))
        except KafkaError as exc:
            raise CommandNotWritten(f"Kafka did not accept the command: {exc}") from exc

        async def acked() -> WritePosition:
            try:
                meta = await pending
            except KafkaError as exc:
                raise CommandNotWritten(f"Kafka did not accept the command: {exc}") from exc
            return WritePosition(topic=meta.topic, partition=meta.partition, offset=meta.offset)

        return acked()


def librdkafka_config(settings: KafkaSettings, client_suffix: str) -> dict[str, Any]:
    """The producer settings of `make_producer`, in librdkafka's words."""
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"{settings.client_id}-{client_suffix}",
        "enable.idempotence": True,
        "acks": "all",
        # librdkafka's default (CRC32) puts a key on another partition than the workers' aiokafka
        # producers (Java's murmur2) do. Read-your-writes needs a command partition's records to
        # stay in order down to the embeddings topic, so a key must keep its partition throughout.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "compression.type": "lz4" if has_lz4() else "none",
        "message.max.bytes": settings.max_message_bytes,
        "security.protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        conf["sasl.mechanism"] = settings.sasl_mechanism
        conf["sasl.username"] = settings.sasl_username
        conf["sasl.password"] = settings.sasl_password.get_secret_value()
    for key, path in (
        ("ssl.ca.location", settings.ssl_cafile),
        ("ssl.certificate.location", settings.ssl_certfile),
        ("ssl.key.location", settings.ssl_keyfile),
    ):
        if path is not None:
            conf[key] = str(path)
    return conf


class ConfluentProducer:
    """librdkafka's producer for asyncio: a thread serves its delivery callbacks, which settle the
    futures on the event loop that sent the records."""

    def __init__(self, settings: KafkaSettings, client_suffix: str) -> None:
        self._conf = librdkafka_config(settings, client_suffix)
        self._producer: confluent_kafka.Producer | None = None
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None

    async def start(self) -> None:
        if self._producer is not None:
            return
        self._producer = confluent_kafka.Producer(self._conf)
        self._stopping.clear()
        self._poller = threading.Thread(target=self._serve_callbacks, name="ragstream-producer", daemon=True)
        self._poller.start()

    def _serve_callbacks(self) -> None:
        producer = self._producer
        assert producer is not None
        while not self._stopping.is_set():
            producer.poll(0.05)

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        # Deliver what is queued (its callbacks run in flush), then stop the callback thread.
        await asyncio.get_running_loop().run_in_executor(None, producer.flush, 30.0)
        self._stopping.set()
        if self._poller is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._poller.join)

    async def ping(self) -> bool:
        producer = self._producer
        if producer is None:
            return False
        try:
            await asyncio.get_running_loop().run_in_executor(None, lambda: producer.list_topics(timeout=5))
        except confluent_kafka.KafkaException:
            return False
        return True

    async def send(
        self, topic: str, *, key: bytes, value: bytes, headers: Headers
    ) -> Awaitable[WritePosition]:
        producer = self._producer
        if producer is None:
            raise CommandNotWritten("the producer is not started")
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[WritePosition] = loop.create_future()

        def delivered(err: confluent_kafka.KafkaError | None, msg: confluent_kafka.Message) -> None:
            loop.call_soon_threadsafe(_settle, acked, err, msg)

        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=list(headers), on_delivery=delivered)
                return acked
            except BufferError:
                # The local queue is full: let deliveries drain it rather than failing the command.
                await asyncio.sleep(0.005)
            except confluent_kafka.KafkaException as exc:
                raise CommandNotWritten(f"Kafka did not accept the command: {exc}") from exc


def _settle(
    future: asyncio.Future[WritePosition],
    err: confluent_kafka.KafkaError | None,
    msg: confluent_kafka.Message,
) -> None:
    if future.done():
        return
    if err is not None:
        future.set_exception(CommandNotWritten(f"Kafka did not accept the command: {err.str()}"))
        return
    offset, partition, topic = msg.offset(), msg.partition(), msg.topic()
    assert offset is not None and partition is not None and topic is not None
    future.set_result(WritePosition(topic=topic, partition=partition, offset=offset))


def make_command_producer(settings: KafkaSettings, client_suffix: str = "commands") -> Producer:
    if settings.producer_client == "aiokafka":
        return AiokafkaProducer(settings, client_suffix)
    return ConfluentProducer(settings, client_suffix)
