"""Decoding a topic's records in a process of its own, for bulk reads (a rebuild's catch-up).

Decoding is the largest single step of replaying the embeddings topic on one core: fastavro makes a
Python float of every value of every vector (384 per chunk), about a third of a rebuild's replay,
and it ran on the query API's event loop, which answered nothing while a batch of 2,000 records
decoded. In a child process it runs beside the apply of the batch before it, on the other core.

The child hands vectors back as `array('f')`: the embeddings contract's vectors are Avro `float`
(32-bit), so nothing is lost, and an array crosses the process boundary as one buffer instead of
hundreds of float objects, and costs the garbage collector nothing afterwards.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from array import array
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

from ragstream.codec import Codec, load_codec
from ragstream.logread import Batches, decode_quietly, log_skipped
from ragstream.records import LogRecord
from ragstream.settings import CodecSettings

_codec: Codec | None = None


class BatchDecoder(Protocol):
    async def decode(self, batches: Batches) -> tuple[list[LogRecord], int]:
        """Decoded records in partition order, and how many could not be decoded."""
        ...


class DecoderProcess(BatchDecoder):
    """Decodes batches as `ragstream.logread.decode_batches` does, in one child process."""

    def __init__(self, settings: CodecSettings) -> None:
        # spawn, not fork: the query API forks with tantivy's, qdrant's and asyncio's threads running.
        self._pool = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(settings,),
        )
        # Started now (the pool starts its process on the first task): importing the codec takes
        # most of a second, which the first batch would otherwise wait for.
        self._pool.submit(_started)

    async def decode(self, batches: Batches) -> tuple[list[LogRecord], int]:
        """Decoded records in partition order, and how many could not be decoded (logged here)."""
        loop = asyncio.get_running_loop()
        records, skipped = await loop.run_in_executor(self._pool, _decode, dict(batches))
        return records, log_skipped(skipped)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _start(settings: CodecSettings) -> None:
    global _codec
    _codec = load_codec(settings)


def _started() -> bool:
    return _codec is not None


def _decode(batches: Batches) -> tuple[list[LogRecord], list[str]]:
    assert _codec is not None, "the decoder process was not started with a codec"
    records, skipped = decode_quietly(_codec, batches)
    for rec in records:
        if rec.name == "DocumentEmbedded":
            for chunk in rec.record.get("chunks") or ():
                if isinstance(chunk.get("vector"), list):
                    chunk["vector"] = array("f", chunk["vector"])
    return records, skipped
