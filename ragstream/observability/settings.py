"""Observability knobs, read from the environment like every other setting.

Flat names (RAGSTREAM_LOG_FORMAT, RAGSTREAM_LAG_INTERVAL_S, RAGSTREAM_LAG_THRESHOLD) so they can be
set for one process without touching the nested sections; the main Settings ignores them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ObservabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGSTREAM_", frozen=True, extra="ignore")

    # "json": one JSON object per line with trace and document context, for log shippers.
    log_format: Literal["text", "json"] = "text"
    # How often a stream worker refreshes the consumer-lag gauges.
    lag_interval_s: float = Field(default=10.0, gt=0)
    # `ragstream status` calls a partition LAGGING above this many unprocessed records.
    lag_threshold: int = Field(default=100, ge=0)
