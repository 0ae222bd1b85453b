"""Request headers every HTTP service of ragstream reads the same way."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

# Tenants never contain '/', so `tenant/document_id` Kafka keys split unambiguously.
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def get_tenant(x_tenant: Annotated[str, Header(pattern=TENANT_PATTERN)] = "default") -> str:
    return x_tenant


TenantDep = Annotated[str, Depends(get_tenant)]
