"""What the sync and the async client share: where the APIs are, the headers every request carries,
and the operations themselves, each bound to a client as a method that the sync client calls and the
async client awaits (the descriptors below), so both offer the same calls with the same signatures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Self, TypeVar, overload

from ragstream.client import operations as ops
from ragstream.client import tenant_ops
from ragstream.client.operations import Call, RetryPolicy
from ragstream.client.profiles import resolve

if TYPE_CHECKING:
    from ragstream.client.aio import AsyncClient, AsyncWriteResult
    from ragstream.client.sync import Client, WriteResult

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_QUERY_URL = "http://127.0.0.1:8082"
DEFAULT_COMMAND_URL = "http://127.0.0.1:8081"
DEFAULT_TIMEOUT_S = 60.0  # above the query API's longest consistency wait (60 s at most)


def client_version() -> str:
    try:
        return version("ragstream")
    except PackageNotFoundError:
        return "0+unknown"


class _Method(Generic[P, T]):
    def __init__(self, op: Callable[P, T]) -> None:
        self.op = op
        self.__doc__ = op.__doc__


class call(_Method[P, ops.Operation[T]]):
    """An operation: `client.x(...)` returns its result, `await async_client.x(...)` too."""

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: Client, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        return self if client is None else client.bind(self.op)


class write(_Method[P, ops.Operation[ops.Written]]):
    """A write: its result can `wait_searchable()`."""

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: Client, owner: type[Any]) -> Callable[P, WriteResult]: ...
    @overload
    def __get__(
        self, client: AsyncClient, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, AsyncWriteResult]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        return self if client is None else client.bind_write(self.op)


class stream(_Method[P, Call]):
    """A streamed answer: iterated (`for`, or `async for` on the async client) as it arrives."""

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: Client, owner: type[Any]) -> Callable[P, Iterator[ops.AnswerEvent]]: ...
    @overload
    def __get__(
        self, client: AsyncClient, owner: type[Any]
    ) -> Callable[P, AsyncIterator[ops.AnswerEvent]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        return self if client is None else client.bind_stream(self.op)


class ClientBase:
    """`api_key` (X-API-Key) or `token` (a JWT, Authorization: Bearer): the credential, which acts
    for one tenant with its principals and scopes. `tenant` names another tenant to act for, which
    only a credential holding `operator` may. With authentication off (the dev profile) there is no
    credential: `tenant`, `principals` and `actor` are then taken as given."""

    def __init__(
        self,
        query_url: str = DEFAULT_QUERY_URL,
        command_url: str = DEFAULT_COMMAND_URL,
        *,
        api_key: str | None = None,
        token: str | None = None,
        tenant: str | None = None,
        principals: Sequence[str] = (),
        actor: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = RetryPolicy(),
        verify: bool | str = True,
    ) -> None:
        self.urls = {"queries": query_url.rstrip("/"), "commands": command_url.rstrip("/")}
        self.retry = retry
        self.timeout_s = timeout_s
        self.verify = verify
        headers = {"User-Agent": f"ragstream-client/{client_version()}"}
        if api_key:
            headers["X-API-Key"] = api_key
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        if tenant:
            headers["X-Tenant"] = tenant
        if principals:
            headers["X-Principals"] = ",".join(principals)
        if actor:
            headers["X-Actor"] = actor
        self.headers = headers

    @classmethod
    def from_profile(
        cls,
        profile: str | None = None,
        *,
        query_url: str | None = None,
        command_url: str | None = None,
        **options: Any,
    ) -> Self:
        """A client for a stored profile, with the environment's overrides (ragstream.client.profiles)."""
        found = resolve(profile, query_url=query_url, command_url=command_url)
        return cls(found.query_url, found.command_url, api_key=found.api_key, token=found.token, **options)

    def url(self, call: Call) -> str:
        return self.urls[call.api] + call.path

    whoami = call(ops.whoami)
    upsert = write(ops.upsert)
    upload = write(ops.upload)
    delete = write(ops.delete)
    update_access = write(ops.update_access)
    get_document = call(ops.get_document)
    history = call(ops.history)
    search = call(ops.search)
    answer = call(ops.answer)
    stream_answer = stream(ops.stream_answer)
    wait_searchable = call(ops.wait_searchable)
    wait_for = call(ops.wait_for)
    replay = call(ops.replay)
    rebuild = call(ops.rebuild)
    job = call(ops.job)
    jobs = call(ops.jobs)
    generations = call(ops.generations)
    drop_generation = call(ops.drop_generation)
    drop_old_generations = call(ops.drop_old_generations)
    retire_embedding_generation = call(ops.retire_embedding_generation)
    query_log = call(ops.query_log)
    node_status = call(ops.node_status)
    ready = call(ops.ready)
    metrics = call(ops.metrics)
    create_webhook = call(tenant_ops.create_webhook)
    webhooks = call(tenant_ops.webhooks)
    webhook = call(tenant_ops.webhook)
    update_webhook = call(tenant_ops.update_webhook)
    delete_webhook = call(tenant_ops.delete_webhook)
    rotate_webhook_secret = call(tenant_ops.rotate_webhook_secret)
    webhook_deliveries = call(tenant_ops.webhook_deliveries)
    replay_webhook_deliveries = call(tenant_ops.replay_webhook_deliveries)
    ping_webhook = call(tenant_ops.ping_webhook)
    create_template = call(tenant_ops.create_template)
    templates = call(tenant_ops.templates)
    template = call(tenant_ops.template)
    template_versions = call(tenant_ops.template_versions)
    set_default_template = call(tenant_ops.set_default_template)
    clear_default_template = call(tenant_ops.clear_default_template)
    delete_template = call(tenant_ops.delete_template)
