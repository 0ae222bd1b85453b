"""Reading a /metrics page: counter values and histogram summaries (for `ragstream status` and tests)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def samples(text: str) -> list[Sample]:
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of every sample called `name` whose labels include `labels` (0 when there is none)."""
    return sum(
        s.value
        for s in samples(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


@dataclass
class HistogramSummary:
    count: float = 0.0
    total: float = 0.0
    # Cumulative counts by upper bound, as exposed (`le`), +Inf included.
    buckets: dict[float, float] = field(default_factory=dict)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """Linear interpolation inside the bucket, as PromQL's histogram_quantile does."""
        if not self.count or not self.buckets:
            return None
        bounds = sorted(self.buckets)
        rank = q * self.buckets[bounds[-1]]
        lower, below = 0.0, 0.0
        for bound in bounds:
            cumulative = self.buckets[bound]
            if cumulative >= rank:
                if math.isinf(bound):
                    # The answer lies past the last finite bucket: its bound is all that is known.
                    return lower
                in_bucket = cumulative - below
                return lower + (bound - lower) * ((rank - below) / in_bucket if in_bucket else 1.0)
            lower, below = bound, cumulative
        return lower


def histograms(text: str, name: str, by: str) -> dict[str, HistogramSummary]:
    """Histogram `name` summarised per value of label `by` (other labels are added together)."""
    out: dict[str, HistogramSummary] = {}
    for s in samples(text):
        if not s.name.startswith(name) or by not in s.labels:
            continue
        summary = out.setdefault(s.labels[by], HistogramSummary())
        if s.name == f"{name}_count":
            summary.count += s.value
        elif s.name == f"{name}_sum":
            summary.total += s.value
        elif s.name == f"{name}_bucket":
            bound = float(s.labels["le"])
            summary.buckets[bound] = summary.buckets.get(bound, 0.0) + s.value
    return out
