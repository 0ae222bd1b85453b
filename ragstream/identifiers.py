"""What a tenant name and a document id may look like, wherever one arrives (bodies, paths, headers,
CDC rows, JWT claims)."""

from __future__ import annotations

# Tenants never contain '/', so `tenant/document_id` Kafka keys split unambiguously.
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# Control characters (NUL above all) can never be part of a document id: PostgreSQL rejects them.
DOCUMENT_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
DOCUMENT_ID_MAX_LENGTH = 512
# A command id is the write's name for waiting on it (`/events`) and finding it in the history.
COMMAND_ID_MAX_LENGTH = 256
