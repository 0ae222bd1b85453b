"""Server read models (OpenSearch for BM25, a Qdrant server for vectors), chosen by configuration.

With `RAGSTREAM_OPENSEARCH__URL` or `RAGSTREAM_QDRANT__URL` set, that read model is shared by every
query node. The stream workers project the embeddings topic into it as one consumer group (each
partition written by one worker), with the projection state in PostgreSQL; query nodes only search
it and keep the other read model, if any, embedded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragstream.queries.readmodels.base import KeywordIndex, SearchIndex, VectorIndex
from ragstream.queries.readmodels.projection import READ_MODELS
from ragstream.settings import Settings

if TYPE_CHECKING:  # the OpenSearch client is an optional extra: `pip install ragstream[opensearch]`
    from opensearchpy import OpenSearch


def shared_read_models(settings: Settings) -> tuple[str, ...]:
    """The read models served by a server backend under this configuration."""
    configured = {"lexical": bool(settings.opensearch.url), "vector": bool(settings.qdrant.url)}
    return tuple(name for name in READ_MODELS if configured[name])


def local_read_models(settings: Settings) -> tuple[str, ...]:
    """The read models each query node holds embedded."""
    shared = shared_read_models(settings)
    return tuple(name for name in READ_MODELS if name not in shared)


@dataclass
class SharedIndexes:
    keyword: KeywordIndex | None = None
    vector: VectorIndex | None = None

    @property
    def read_models(self) -> tuple[str, ...]:
        held = {"lexical": self.keyword, "vector": self.vector}
        return tuple(name for name in READ_MODELS if held[name] is not None)

    def all(self) -> list[SearchIndex]:
        return [index for index in (self.keyword, self.vector) if index is not None]

    def close(self) -> None:
        for index in self.all():
            index.close()


def opensearch_client(settings: Settings) -> OpenSearch:
    """A client for the configured OpenSearch cluster (URL, credentials, TLS, timeout)."""
    from ragstream.queries.readmodels.opensearch_index import make_client

    os_ = settings.opensearch
    return make_client(
        os_.url, username=os_.username, password=os_.password.get_secret_value(),
        verify_certs=os_.verify_certs, ca_certs=str(os_.ca_certs) if os_.ca_certs else None,
        timeout_s=os_.timeout_s,
    )  # fmt: skip


def open_shared_indexes(settings: Settings, dimension: int, *, readonly: bool = False) -> SharedIndexes:
    """Connects to the configured servers; creates index and collection on first use unless readonly."""
    indexes = SharedIndexes()
    try:
        if settings.opensearch.url:
            from ragstream.queries.readmodels.opensearch_index import OpenSearchKeywordIndex

            indexes.keyword = OpenSearchKeywordIndex(
                opensearch_client(settings), settings.opensearch.index, readonly=readonly, owns_client=True
            )
        if settings.qdrant.url:
            from ragstream.queries.readmodels.qdrant_server_index import QdrantServerVectorIndex

            qd = settings.qdrant
            indexes.vector = QdrantServerVectorIndex.connect(
                qd.url, qd.collection, dimension, api_key=qd.api_key.get_secret_value(),
                timeout_s=qd.timeout_s, prefer_grpc=qd.prefer_grpc,
            )  # fmt: skip
    except BaseException:
        indexes.close()
        raise
    return indexes
