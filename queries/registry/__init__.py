from ragstream.queries.registry.store import AuditEntry, DocumentRecord, RegistryStore

__all__ = ["AuditEntry", "DocumentRecord", "RegistryStore"]
