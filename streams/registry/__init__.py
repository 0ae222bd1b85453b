from ragstream.streams.registry.store import AuditEntry, DocumentRecord, RegistryStore

__all__ = ["AuditEntry", "DocumentRecord", "RegistryStore"]
