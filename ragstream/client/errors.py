"""What the SDK raises: a typed exception per kind of Problem Details the APIs answer with.

Branch on the exception type (or `kind`), never on the wording of `detail`: the kinds are the APIs'
stable contract (ragstream.http.problems).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from ragstream.exceptions import RagstreamError


class ClientError(RagstreamError):
    """Anything the SDK raises."""


class Unreachable(ClientError):
    """The API could not be reached (connection refused, DNS, timeout)."""

    def __init__(self, url: str, cause: Exception) -> None:
        super().__init__(f"{url} unreachable: {type(cause).__name__}: {cause}".rstrip(": "))
        self.url = url


class ApiError(ClientError):
    """An error answer of an API: its Problem Details `type`, `status`, `title` and `detail`, and
    the whole problem object (extension members included) in `problem`."""

    kind: ClassVar[str] = ""

    def __init__(self, problem: dict[str, Any], status: int) -> None:
        self.problem = problem
        self.status = status
        self.type = str(problem.get("type", ""))
        self.title = str(problem.get("title", ""))
        self.detail = str(problem.get("detail", ""))
        super().__init__(f"{status} {self.title or 'error'}: {self.detail}")

    @property
    def retry_after_s(self) -> float | None:
        """When to try again, from `retry_after_s` or the Retry-After header (429, some 503s)."""
        value = self.problem.get("retry_after_s")
        return float(value) if isinstance(value, int | float) else None


class BadRequest(ApiError):
    kind = "bad-request"


class Unauthenticated(ApiError):
    kind = "unauthenticated"


class Forbidden(ApiError):
    kind = "forbidden"


class NotFound(ApiError):
    kind = "not-found"


class MethodNotAllowed(ApiError):
    kind = "method-not-allowed"


class Conflict(ApiError):
    kind = "conflict"


class BodyTooLarge(ApiError):
    kind = "body-too-large"


class InvalidRequest(ApiError):
    """422: `errors` says what is wrong where."""

    kind = "validation"

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.problem.get("errors") or [])


class RateLimited(ApiError):
    """429: `retry_after_s` says when to try again (the SDK retries by itself when that is soon)."""

    kind = "rate-limited"


class QuotaExceeded(RateLimited):
    kind = "quota-exceeded"


class InternalError(ApiError):
    kind = "internal"


class Unavailable(ApiError):
    kind = "unavailable"


class NotCaughtUp(ApiError):
    """504: the read models had not applied the consistency token's positions in time."""

    kind = "not-caught-up"

    @property
    def behind(self) -> dict[str, dict[str, int]]:
        return dict(self.problem.get("behind") or {})


ERRORS: dict[str, type[ApiError]] = {
    cls.kind: cls
    for cls in (
        BadRequest, Unauthenticated, Forbidden, NotFound, MethodNotAllowed, Conflict, BodyTooLarge,
        InvalidRequest, RateLimited, QuotaExceeded, InternalError, Unavailable, NotCaughtUp,
    )
}  # fmt: skip
_BY_STATUS = {
    400: BadRequest, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    409: Conflict, 413: BodyTooLarge, 422: InvalidRequest, 429: RateLimited, 503: Unavailable,
    504: NotCaughtUp,
}  # fmt: skip
TYPE_BASE = "https://ragstream.dev/problems/"


def error_from_response(response: httpx.Response) -> ApiError:
    """The typed error of an answer with status >= 400 (its body must have been read).

    A body that is not a problem (a proxy's HTML page, say) still gives the error of its status,
    with the start of the body as detail, and a Retry-After header fills in `retry_after_s`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    problem: dict[str, Any] = (
        dict(body)
        if isinstance(body, dict) and "type" in body
        else {"type": "about:blank", "title": response.reason_phrase, "detail": response.text[:500]}
    )
    if "retry_after_s" not in problem and (retry_after := _retry_after(response)) is not None:
        problem["retry_after_s"] = retry_after
    return error_from_problem(problem, response.status_code)


def error_from_problem(problem: dict[str, Any], status: int) -> ApiError:
    """The typed error of a problem object (an error answer's body, or an `error` event of a stream)."""
    kind = str(problem.get("type", "")).removeprefix(TYPE_BASE)
    cls = ERRORS.get(kind) or _BY_STATUS.get(status)
    if cls is None:
        cls = InternalError if status >= 500 else BadRequest
    return cls(problem, status)


def _retry_after(response: httpx.Response) -> float | None:
    # Only the seconds form: the APIs never send an HTTP date.
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
