"""Prompt templates of the caller's tenant (`admin`; an operator acts for the tenant in X-Tenant).

Templates are validated when saved (only placeholders the generator fills in) and never change:
saving under an existing name makes the next version. An answer names a template (and version) or
gets the tenant's default; the extractive generator ignores them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from ragstream.http.jsonbody import StrictJSONRoute
from ragstream.http.security import Admin, throttle
from ragstream.http.service import COMMON_ERRORS, error_responses
from ragstream.queries.answers.template_store import StoredTemplate, TemplateStore
from ragstream.queries.answers.templates import PromptTemplate
from ragstream.queries.api.deps import TemplatesDep
from ragstream.queries.api.schemas import (
    MAX_VERSION,
    TEMPLATE_NAME,
    DefaultTemplateIn,
    TemplateIn,
    TemplateOut,
    TemplatesOut,
)

router = APIRouter(
    prefix="/v1/templates", tags=["templates"], route_class=StrictJSONRoute,
    dependencies=[Depends(throttle)], responses=error_responses(*COMMON_ERRORS, 404, 413),
)  # fmt: skip
TemplateName = Annotated[str, Path(pattern=TEMPLATE_NAME)]


def _out(stored: StoredTemplate, default: tuple[str, int | None] | None) -> TemplateOut:
    t = stored.template
    is_default = default is not None and default[0] == t.name and default[1] in (None, t.version)
    return TemplateOut(
        name=t.name, version=t.version, system_prompt=t.system_prompt, passage_format=t.passage_format,
        answer_style=t.answer_style, language=t.language, created_at=stored.created_at,
        created_by=stored.created_by, default=is_default,
    )  # fmt: skip


async def _found(templates: TemplateStore, tenant: str, name: str, version: int | None) -> StoredTemplate:
    stored = await templates.get(tenant, name, version)
    if stored is None:
        suffix = f" version {version}" if version is not None else ""
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no prompt template {name!r}{suffix}")
    return stored


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TemplateOut)
async def create_template(body: TemplateIn, templates: TemplatesDep, identity: Admin) -> TemplateOut:
    """Saves the template as the next version of its name (422 for a placeholder nobody fills)."""
    template = PromptTemplate(
        system_prompt=body.system_prompt, passage_format=body.passage_format, answer_style=body.answer_style,
        language=body.language, name=body.name,
    )  # fmt: skip
    stored = await templates.create(identity.tenant, template, identity.subject)
    if body.default:
        await templates.set_default(identity.tenant, body.name, None)
    return _out(stored, await templates.default(identity.tenant))


@router.get("", response_model=TemplatesOut)
async def list_templates(templates: TemplatesDep, identity: Admin) -> TemplatesOut:
    """The latest version of each template, and which one answers get by default."""
    default = await templates.default(identity.tenant)
    label = None if default is None else default[0] + (f"@{default[1]}" if default[1] is not None else "")
    return TemplatesOut(
        default=label, templates=[_out(t, default) for t in await templates.latest(identity.tenant)]
    )


@router.get("/{name}", response_model=TemplateOut)
async def get_template(
    name: TemplateName,
    templates: TemplatesDep,
    identity: Admin,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION, description="Default: the latest")] = None,
) -> TemplateOut:
    stored = await _found(templates, identity.tenant, name, version)
    return _out(stored, await templates.default(identity.tenant))


@router.get("/{name}/versions", response_model=list[TemplateOut])
async def template_versions(
    name: TemplateName, templates: TemplatesDep, identity: Admin
) -> list[TemplateOut]:
    versions = await templates.versions(identity.tenant, name)
    if not versions:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no prompt template {name!r}")
    default = await templates.default(identity.tenant)
    return [_out(t, default) for t in versions]


@router.put("/{name}/default", response_model=TemplateOut)
async def set_default_template(
    name: TemplateName, body: DefaultTemplateIn, templates: TemplatesDep, identity: Admin
) -> TemplateOut:
    """Answers that name no template get this one (a pinned version, or its latest)."""
    stored = await _found(templates, identity.tenant, name, body.version)
    await templates.set_default(identity.tenant, name, body.version)
    return _out(stored, await templates.default(identity.tenant))


@router.delete("/{name}/default", status_code=status.HTTP_204_NO_CONTENT)
async def clear_default_template(name: TemplateName, templates: TemplatesDep, identity: Admin) -> None:
    """Answers go back to the built-in prompt (if this template was the default)."""
    default = await templates.default(identity.tenant)
    if default is None or default[0] != name:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{name!r} is not the default template")
    await templates.clear_default(identity.tenant)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(name: TemplateName, templates: TemplatesDep, identity: Admin) -> None:
    """Every version; answers that name it get 404 from now on."""
    if not await templates.delete(identity.tenant, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no prompt template {name!r}")
