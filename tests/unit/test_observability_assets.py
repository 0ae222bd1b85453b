"""deploy/observability/ and docs/metrics.md: valid for promtool, structurally sound, and naming only
metrics (and labels) the code registers."""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from ragstream.settings import PROJECT_ROOT
from tests.unit.observability_checks import (
    ASSETS,
    Dashboard,
    RuleFile,
    documented_metrics,
    load_dashboard,
    load_rules,
    metric_names,
    recorded_names,
    unknown_labels,
    unknown_metrics,
)

pytestmark = pytest.mark.unit

# A metric defined in code: found by reading the source, so the check does not depend on which modules
# other tests happened to import first.
METRIC_DEFINITION = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary)\(\s*\"(ragstream_[a-z0-9_]+)\"")
# One import root; the sides are linked into it (ragstream/commands -> commands/, ...).
PACKAGE = PROJECT_ROOT / "ragstream"


def metric_modules() -> list[str]:
    modules = []
    for folder, _, files in os.walk(PACKAGE, followlinks=True):
        for name in sorted(f for f in files if f.endswith(".py")):
            path = Path(folder) / name
            if METRIC_DEFINITION.search(path.read_text()):
                modules.append(".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts))
    return sorted(modules)


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian: apt-get install -y --no-install-recommends prometheus)",
)


def registered_metrics() -> dict[str, str]:
    """Exposed name -> type of every ragstream metric in the default registry."""
    for module in metric_modules():
        importlib.import_module(module)
    out = {}
    for family in REGISTRY.collect():
        if family.name.startswith("ragstream_"):
            name = f"{family.name}_total" if family.type == "counter" else family.name
            out[name] = family.type
    return out


def test_every_registered_metric_is_documented_with_its_type() -> None:
    documented = {name: doc.type for name, doc in documented_metrics().items()}
    assert registered_metrics() == documented


def test_the_source_scan_finds_the_metric_modules() -> None:
    assert {
        "ragstream.streams.metrics",
        "ragstream.streams.dlq",
        "ragstream.queries.indexing.feed",
        "ragstream.observability.metrics",
    } <= set(metric_modules())


def test_documented_labels_match_the_code() -> None:
    registered_metrics()
    documented = documented_metrics()
    for family in REGISTRY.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        if name not in documented:
            continue
        collector = REGISTRY._names_to_collectors[name]
        labels = frozenset(getattr(collector, "_labelnames", ()))
        assert labels == documented[name].labels, name


def test_dashboard_is_well_formed_and_uses_documented_metrics() -> None:
    dashboard = load_dashboard()
    documented = documented_metrics()
    assert unknown_metrics(dashboard.exprs(), documented) == {}
    assert unknown_labels(dashboard.exprs(), documented) == {}
    used = set().union(*(metric_names(e) for e in dashboard.exprs()))
    # The list: commands, processing, embedding, lag, DLQ, freshness, query latency, errors.
    assert {
        "ragstream_api_commands_total", "ragstream_commands_total", "ragstream_processed_total",
        "ragstream_processing_seconds", "ragstream_embedding_batch_size", "ragstream_embedding_seconds",
        "ragstream_consumer_lag", "ragstream_dead_letters_total", "ragstream_freshness_seconds",
        "ragstream_query_stage_seconds", "ragstream_http_request_seconds", "ragstream_errors_total",
    } <= used  # fmt: skip


def test_dashboard_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in load_dashboard().panels:
        g = panel.gridPos
        cells = {(x, y) for x in range(g.x, g.x + g.w) for y in range(g.y, g.y + g.h)}
        assert not cells & taken, f"panel {panel.title!r} overlaps another"
        taken |= cells


def test_rules_are_well_formed_and_use_documented_metrics() -> None:
    rules = load_rules()
    documented = documented_metrics()
    exprs = [r.expr for r in rules.rules()]
    assert unknown_metrics(exprs, documented) == {}
    assert unknown_labels(exprs, documented) == {}
    # Alerts may read recording rules, but only ones this file defines.
    assert set().union(*(recorded_names(e) for e in exprs)) <= rules.recorded()
    alerts = {r.alert for r in rules.rules() if r.alert}
    assert {
        "RagstreamConsumerLagGrowing", "RagstreamFreshnessP99High", "RagstreamDeadLetters",
        "RagstreamErrorRateHigh", "RagstreamQueryLatencyHigh", "RagstreamCommandLatencyHigh",
    } <= alerts  # fmt: skip


def dashboard_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ASSETS / "grafana-dashboard.json").read_text())
    return data


def test_dashboard_validation_catches_mistakes() -> None:
    good = dashboard_json()
    duplicate = copy.deepcopy(good)
    duplicate["panels"][2]["id"] = duplicate["panels"][1]["id"]
    too_wide = copy.deepcopy(good)
    too_wide["panels"][1]["gridPos"].update(x=20, w=8)
    no_query = copy.deepcopy(good)
    no_query["panels"][1]["targets"] = []
    bad_source = copy.deepcopy(good)
    bad_source["panels"][1]["datasource"] = {"type": "prometheus", "uid": "${nope}"}
    for broken in (duplicate, too_wide, no_query, bad_source):
        with pytest.raises(ValidationError):
            Dashboard.model_validate(broken)
    renamed = [*Dashboard.model_validate(good).exprs(), "rate(ragstream_processed_records_total[5m])"]
    assert unknown_metrics(renamed, documented_metrics()) == {
        "rate(ragstream_processed_records_total[5m])": {"ragstream_processed_records_total"}
    }
    # _bucket only exists on histograms.
    assert unknown_metrics(["ragstream_errors_total_bucket"], documented_metrics())


def test_rule_validation_catches_mistakes() -> None:
    alert = {"alert": "A", "expr": "up == 0", "labels": {"severity": "warning"},
             "annotations": {"summary": "s", "description": "d"}}  # fmt: skip
    RuleFile.model_validate({"groups": [{"name": "g", "rules": [alert]}]})
    for broken in (
        {**alert, "labels": {}},
        {**alert, "annotations": {"summary": "s"}},
        {**alert, "record": "r"},
        {"expr": "up"},
    ):
        with pytest.raises(ValidationError):
            RuleFile.model_validate({"groups": [{"name": "g", "rules": [broken]}]})


def promtool(*args: str, cwd: Path = ASSETS) -> None:
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_scrape_config() -> None:
    promtool("check", "config", "prometheus.yml")


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    promtool("check", "rules", "alerts.yml")


@needs_promtool
def test_alerts_fire_when_they_should() -> None:
    promtool("test", "rules", "alerts.test.yml")
