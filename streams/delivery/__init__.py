"""The delivery layer: how processors take messages from faust, fenced in one package.

See `ragstream.streams.delivery.patches` for the faust-streaming defects it covers and the faust and
aiokafka code each workaround replaces.
"""

from ragstream.streams.delivery.batching import event_batches, owned_by, owned_events
from ragstream.streams.delivery.patches import install_fixes
from ragstream.streams.delivery.sequencing import audit_sequencers, faust_sequencer
from ragstream.streams.delivery.tables import written_from

__all__ = [
    "audit_sequencers",
    "event_batches",
    "faust_sequencer",
    "install_fixes",
    "owned_by",
    "owned_events",
    "written_from",
]
