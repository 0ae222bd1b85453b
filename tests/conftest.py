"""Shared fixtures. Integration tests run against the real local stack (Kafka, PostgreSQL) that
`make test` starts; each test module gets fresh topics, consumer group, schema and data folders."""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from ragstream.local import stack
from ragstream.local.pipeline import (
    LocalPipeline,
    drop_schemas,
    isolated_env,
    schema_of,
    settings_from_env,
    topic_prefixes,
)
from ragstream.settings import Settings, get_settings
from tests.integration.helpers import delete_topics, logs_on_failure

# The tags handed out this session, whose topics and schemas are removed at its end (`_tags_discarded`).
_TAGS: list[str] = []
_STACK_USED: list[Settings] = []


def unique_tag(prefix: str = "t") -> str:
    tag = f"{prefix}{uuid.uuid4().hex[:10]}"
    _TAGS.append(tag)
    return tag


# What a developer's shell may hold for the CLI and the SDK (ragstream.client.profiles): never the tests'.
CLIENT_ENV = ("RAGSTREAM_API_KEY", "RAGSTREAM_TOKEN", "RAGSTREAM_PROFILE", "RAGSTREAM_QUERY_URL",
              "RAGSTREAM_COMMAND_URL")  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def no_client_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI reads no profile file and no credential of the developer's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAGSTREAM_CONFIG", str(tmp_path_factory.mktemp("client") / "profiles.json"))
        for name in CLIENT_ENV:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def local_stack() -> Settings:
    """The local stack, started if it is not running (idempotent)."""
    settings = get_settings()
    if os.environ.get("RAGSTREAM_TEST_SKIP_STACK_UP") != "1":
        stack.up(settings)
    _STACK_USED.append(settings)
    return settings


@pytest.fixture(scope="session", autouse=True)
def _tags_discarded() -> Iterator[None]:
    """Every test tag's topics gone from the shared broker at the end of the session, and its
    PostgreSQL schema from the shared database: left there, a long-lived local stack gathered
    thousands of partitions, which slowed each later start of it, and a schema per test module."""
    yield
    if _STACK_USED and _TAGS:
        _delete_topics_of(_STACK_USED[0], _TAGS)
        try:
            asyncio.run(drop_schemas(_STACK_USED[0], *(schema_of(tag) for tag in _TAGS)))
        except Exception as exc:  # as for the topics: a database a test stopped on purpose
            warnings.warn(f"could not drop the schemas of {', '.join(_TAGS)}: {exc}", stacklevel=1)


def _delete_topics_of(settings: Settings, tags: list[str]) -> None:
    try:
        delete_topics(settings, *(p for tag in tags for p in topic_prefixes(tag)))
    except Exception as exc:  # a broker a test stopped on purpose: nothing to clean, nothing failed
        warnings.warn(f"could not delete the topics of {', '.join(tags)}: {exc}", stacklevel=1)


@pytest.fixture(scope="module")
def pipeline_env(local_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tag = unique_tag()
    yield isolated_env(tag, tmp_path_factory.mktemp(tag))
    # At once, not at the end of the session: the broker of a whole run holds fewer partitions.
    _delete_topics_of(local_stack, [tag])


@pytest.fixture(scope="module")
def isolated_settings(pipeline_env: dict[str, str]) -> Settings:
    return settings_from_env(pipeline_env)


@pytest.fixture(scope="module")
def pipeline(
    pipeline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPipeline]:
    log_dir = Path(tmp_path_factory.mktemp("logs"))
    with logs_on_failure(LocalPipeline(pipeline_env, log_dir)) as running:
        running.start()
        yield running


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used a running pipeline reports the tail of each of its processes' logs:
    a module-scoped pipeline outlives the test, so `logs_on_failure` only sees failures while it
    starts, and a CI failure in a test would otherwise leave no trace of what the workers did."""
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, LocalPipeline):
                for process in value.processes.values():
                    report.sections.append((f"{process.name} log (last 60 lines)", process.log_tail(60)))
    return report
