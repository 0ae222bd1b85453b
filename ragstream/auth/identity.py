"""Who is calling, and what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from ragstream.auth.exceptions import Forbidden

READ = "read"  # search, answer, document reads and history
WRITE = "write"  # document commands
ADMIN = "admin"  # its own tenant's query log, replays and jobs
OPERATOR = "operator"  # what spans tenants: rebuilds, generations, every tenant's log; never a default
SCOPES = frozenset({READ, WRITE, ADMIN, OPERATOR})


@dataclass(frozen=True)
class Identity:
    """`tenant` is the tenant the request acts for: the credential's own, or, for a credential holding
    `operator`, the one it named in X-Tenant (`home_tenant` keeps the credential's own)."""

    subject: str
    tenant: str
    principals: tuple[str, ...]
    scopes: frozenset[str]
    home_tenant: str = ""

    def has(self, scope: str) -> bool:
        # An operator administers every tenant, so it holds `admin` too; nothing else is implied.
        return scope in self.scopes or (scope == ADMIN and OPERATOR in self.scopes)

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise Forbidden(f"{self.subject} lacks the {scope!r} scope")

    def require_tenant(self, tenant: str | None) -> None:
        """Acting on another tenant's data (a query-log filter, say) needs `operator`."""
        if tenant is not None and tenant != self.tenant and not self.has(OPERATOR):
            raise Forbidden(f"{self.subject} acts for tenant {self.tenant!r} only")
