"""The query side's projections that keep shared state, run by the stream workers (see
ragstream.projections): the document registry and audit view (failed commands too), and the server read models."""

from ragstream.queries.projections.failures import FailureProjection
from ragstream.queries.projections.registry import RegistryProjection
from ragstream.queries.projections.shared_indexes import SharedIndexProjection, shared_index_projections

__all__ = ["FailureProjection", "RegistryProjection", "SharedIndexProjection", "shared_index_projections"]
