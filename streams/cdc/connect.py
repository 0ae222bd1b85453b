"""A small client of the Kafka Connect REST API: idempotent config PUTs, status, clean deletes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ragstream.streams.cdc.exceptions import ConnectError

DEFAULT_URL = "http://127.0.0.1:18083"


class _Retryable(Exception):
    """A response worth retrying: Connect answers 409 during a rebalance and 5xx while it starts."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable | httpx.TransportError)


class ConnectClient:
    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float = 15.0,
        attempts: int = 6,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)
        self._attempts = attempts
        self._backoff = backoff

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _request(self, method: str, path: str, *, json: Any = None, ok_missing: bool = False) -> Any:
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=5),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._http.request(method, path, json=json)
                    if response.status_code == 409 or response.status_code >= 500:
                        raise _Retryable(f"{response.status_code}: {_message(response)}")
        except _Retryable as exc:
            raise ConnectError(f"Kafka Connect at {self.url} {method} {path} kept failing: {exc}") from exc
        except httpx.TransportError as exc:
            raise ConnectError(f"Kafka Connect at {self.url} is unreachable: {exc}") from exc
        if response.status_code == 404 and ok_missing:
            return None
        if response.status_code >= 400:
            raise ConnectError(
                f"Kafka Connect refused {method} {path}: {response.status_code} {_message(response)}"
            )
        return response.json() if response.content else {}

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/")
        return result

    def validate(self, config: Mapping[str, str]) -> list[str]:
        """The plugin's own verdict on a config (it connects to the database): `key: error` lines."""
        plugin = config.get("connector.class", "")
        result = self._request("PUT", f"/connector-plugins/{plugin}/config/validate", json=dict(config)) or {}
        errors: list[str] = []
        for entry in result.get("configs", []):
            value = entry.get("value") or {}
            errors.extend(f"{value.get('name')}: {error}" for error in value.get("errors") or [])
        return errors

    def put_config(self, name: str, config: Mapping[str, str]) -> dict[str, Any]:
        """Creates or updates the connector; PUTting the same config again changes nothing.

        Validated first: Connect 4.1 answers an invalid Debezium 3.6 config with a bare 500 (its error
        report trips over a Debezium key without a value), which would hide the reason.
        """
        errors = self.validate(config)
        if errors:
            raise ConnectError(f"connector {name} config is invalid:\n  " + "\n  ".join(errors))
        result: dict[str, Any] = self._request("PUT", f"/connectors/{name}/config", json=dict(config))
        return result

    def config(self, name: str) -> dict[str, str] | None:
        result: dict[str, str] | None = self._request("GET", f"/connectors/{name}/config", ok_missing=True)
        return result

    def status(self, name: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._request("GET", f"/connectors/{name}/status", ok_missing=True)
        return result

    def statuses(self) -> dict[str, dict[str, Any]]:
        """Every connector's status, by name."""
        data = self._request("GET", "/connectors?expand=status") or {}
        return {name: entry.get("status", {}) for name, entry in data.items()}

    def wait_state(self, name: str, states: frozenset[str], timeout: float = 60.0) -> dict[str, Any]:
        """Polls until the connector and all its tasks are in one of `states`; FAILED ends the wait early."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            status = self.status(name)
            if status:
                connector = status.get("connector", {}).get("state")
                tasks = [t.get("state") for t in status.get("tasks", [])]
                if connector == "FAILED" or "FAILED" in tasks:
                    return status
                if connector in states and (tasks or "STOPPED" in states) and all(t in states for t in tasks):
                    return status
            time.sleep(0.5)
        raise ConnectError(
            f"connector {name} did not reach {'/'.join(sorted(states))} in {timeout:.0f}s: {status}"
        )

    def delete(self, name: str, *, reset_offsets: bool = True) -> bool:
        """Deletes the connector; False if there was none.

        With reset_offsets its source offsets go too (stop, delete offsets, delete), so applying the
        same name again starts with a fresh snapshot instead of resuming from a slot that is gone.
        """
        if self.status(name) is None:
            return False
        if reset_offsets:
            self._request("PUT", f"/connectors/{name}/stop")
            self.wait_state(name, frozenset({"STOPPED"}), timeout=60)
            self._request("DELETE", f"/connectors/{name}/offsets", ok_missing=True)
        self._request("DELETE", f"/connectors/{name}", ok_missing=True)
        return True


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(body)[:500]
