"""Structural checks of deploy/observability/ (dashboard, alert rules) against docs/metrics.md.

promtool checks PromQL and rule semantics where it is installed; these checks need nothing but the
files, so a dashboard that plots a renamed metric fails `make test` everywhere.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ragstream.settings import PROJECT_ROOT

ASSETS = PROJECT_ROOT / "deploy" / "observability"
METRICS_DOC = PROJECT_ROOT / "docs" / "metrics.md"
GRID_WIDTH = 24
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Metric names in PromQL: a `ragstream_` identifier not followed by `(` (no function is named so).
_METRIC_RE = re.compile(r"(?<![\w:])(ragstream_[a-zA-Z0-9_]*)(?![\w(])")
_RECORDED_RE = re.compile(r"(?<![\w:])(ragstream:[a-zA-Z0-9_:]*)")
_SELECTOR_RE = re.compile(r"(?<![\w:])(ragstream_[a-zA-Z0-9_]*)\{([^}]*)\}")
_MATCHER_RE = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
_DOC_ROW_RE = re.compile(r"^\|\s*`(ragstream_[a-z0-9_]+)`\s*\|\s*(counter|gauge|histogram)\s*\|([^|]*)\|")


class _Strictish(BaseModel):
    # Grafana and Prometheus add many optional fields: known ones are checked, others pass through.
    model_config = ConfigDict(extra="allow")


class DataSource(_Strictish):
    type: Literal["prometheus"]
    uid: str


class Target(_Strictish):
    expr: str = Field(min_length=1)
    refId: str = Field(min_length=1)
    datasource: DataSource | None = None


class GridPos(_Strictish):
    h: int = Field(ge=1)
    w: int = Field(ge=1, le=GRID_WIDTH)
    x: int = Field(ge=0, lt=GRID_WIDTH)
    y: int = Field(ge=0)

    @model_validator(mode="after")
    def _fits(self) -> GridPos:
        if self.x + self.w > GRID_WIDTH:
            raise ValueError(
                f"panel at x={self.x} with w={self.w} is wider than the {GRID_WIDTH}-column grid"
            )
        return self


class Panel(_Strictish):
    id: int
    type: str
    title: str = Field(min_length=1)
    gridPos: GridPos
    targets: list[Target] = Field(default_factory=list)
    datasource: DataSource | None = None

    @model_validator(mode="after")
    def _queries(self) -> Panel:
        if self.type != "row" and not self.targets:
            raise ValueError(f"panel {self.title!r} has no query")
        refs = [t.refId for t in self.targets]
        if len(refs) != len(set(refs)):
            raise ValueError(f"panel {self.title!r} repeats a refId: {refs}")
        return self


class Variable(_Strictish):
    name: str
    type: str


class Templating(_Strictish):
    list: list[Variable]


class Dashboard(_Strictish):
    title: str = Field(min_length=1)
    uid: str = Field(min_length=1, max_length=40)
    schemaVersion: int = Field(ge=30)
    panels: list[Panel] = Field(min_length=1)
    templating: Templating

    @model_validator(mode="after")
    def _consistent(self) -> Dashboard:
        ids = [p.id for p in self.panels]
        if len(ids) != len(set(ids)):
            raise ValueError("panel ids must be unique")
        variables = {v.name for v in self.templating.list}
        for panel in self.panels:
            for ds in [panel.datasource, *(t.datasource for t in panel.targets)]:
                if ds is not None and ds.uid.startswith("$") and ds.uid.strip("${}") not in variables:
                    raise ValueError(
                        f"panel {panel.title!r} uses data source {ds.uid}, which is not a variable"
                    )
        return self

    def exprs(self) -> list[str]:
        return [t.expr for p in self.panels for t in p.targets]


class Rule(_Strictish):
    record: str | None = None
    alert: str | None = None
    expr: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kind(self) -> Rule:
        if (self.record is None) == (self.alert is None):
            raise ValueError("a rule has exactly one of `record` and `alert`")
        if self.alert is not None:
            if self.labels.get("severity") not in {"warning", "critical"}:
                raise ValueError(f"alert {self.alert} needs severity warning or critical")
            if not self.annotations.get("summary") or not self.annotations.get("description"):
                raise ValueError(f"alert {self.alert} needs a summary and a description")
        return self


class RuleGroup(_Strictish):
    name: str = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)


class RuleFile(_Strictish):
    groups: list[RuleGroup] = Field(min_length=1)

    @field_validator("groups")
    @classmethod
    def _unique(cls, groups: list[RuleGroup]) -> list[RuleGroup]:
        names = [g.name for g in groups]
        if len(names) != len(set(names)):
            raise ValueError("rule group names must be unique")
        return groups

    def rules(self) -> list[Rule]:
        return [r for g in self.groups for r in g.rules]

    def recorded(self) -> set[str]:
        return {r.record for r in self.rules() if r.record is not None}


class DocumentedMetric(BaseModel):
    name: str
    type: Literal["counter", "gauge", "histogram"]
    labels: frozenset[str]


def documented_metrics(path: Path = METRICS_DOC) -> dict[str, DocumentedMetric]:
    """The catalogue table of docs/metrics.md; labels are the backquoted names before any `(`."""
    out: dict[str, DocumentedMetric] = {}
    for line in path.read_text().splitlines():
        match = _DOC_ROW_RE.match(line)
        if match is None:
            continue
        name, kind, labels = match.groups()
        label_names = re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", labels))
        out[name] = DocumentedMetric(name=name, type=kind, labels=frozenset(label_names))  # type: ignore[arg-type]
    return out


def metric_names(expr: str) -> set[str]:
    """The ragstream metrics a PromQL expression reads, histogram suffixes stripped."""
    names = set()
    for name in _METRIC_RE.findall(expr):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        names.add(name)
    return names


def recorded_names(expr: str) -> set[str]:
    return set(_RECORDED_RE.findall(expr))


def unknown_metrics(exprs: list[str], documented: dict[str, DocumentedMetric]) -> dict[str, set[str]]:
    """Expression -> the names in it that are not documented (histogram suffixes only on histograms)."""
    bad: dict[str, set[str]] = {}
    for expr in exprs:
        missing = set()
        for raw in _METRIC_RE.findall(expr):
            base = metric_names(raw).pop()
            doc = documented.get(raw) or documented.get(base)
            if doc is None or (raw != base and doc.type != "histogram"):
                missing.add(raw)
        if missing:
            bad[expr] = missing
    return bad


def unknown_labels(exprs: list[str], documented: dict[str, DocumentedMetric]) -> dict[str, set[str]]:
    """Expression -> `metric.label` pairs its selectors match on that the metric does not have."""
    bad: dict[str, set[str]] = {}
    for expr in exprs:
        for raw, matchers in _SELECTOR_RE.findall(expr):
            doc = documented.get(raw) or documented.get(metric_names(raw).pop())
            if doc is None:
                continue  # unknown_metrics reports it
            allowed = doc.labels | TARGET_LABELS | ({"le"} if raw.endswith("_bucket") else set())
            wrong = {f"{raw}.{label}" for label in _MATCHER_RE.findall(matchers) if label not in allowed}
            if wrong:
                bad.setdefault(expr, set()).update(wrong)
    return bad


def load_dashboard(path: Path = ASSETS / "grafana-dashboard.json") -> Dashboard:
    return Dashboard.model_validate(json.loads(path.read_text()))


def load_rules(path: Path = ASSETS / "alerts.yml") -> RuleFile:
    data: Any = yaml.safe_load(path.read_text())
    return RuleFile.model_validate(data)
