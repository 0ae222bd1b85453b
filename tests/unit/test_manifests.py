"""Offline checks of the deployment manifests (deploy/k8s/base, deploy/compose).

Neither kubectl, a cluster, kustomize nor a Docker engine is assumed. Three layers:

1. Kubernetes objects are validated against the official JSON schemas in strict mode (unknown fields
   are errors) through `kubernetes-validate`, which ships the schemas: no download at test time.
2. Small pydantic models plus cross-object checks catch what schemas cannot: selectors that match no
   pods, probes on undeclared ports, missing resource limits, an HPA above the partition count,
   ConfigMap/Secret/volume references that resolve to nothing, and commands that are not ragstream
   subcommands.
3. Every RAGSTREAM_* variable the manifests set must be a real setting, and the values must parse.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragstream.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.unit

K8S_BASE = PROJECT_ROOT / "deploy" / "k8s" / "base"
COMPOSE_DIR = PROJECT_ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
# Kubernetes versions the base must be valid for: the oldest still commonly run, and the newest known.
K8S_VERSIONS = ("1.30.0", "1.33.0")
# Settings sections the deployment sets before ragstream/settings.py defines them (none today).
PENDING_SECTIONS: dict[str, set[str]] = {}
QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_UNITS = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


# -- loading -----------------------------------------------------------------------------------


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kustomization() -> dict[str, Any]:
    [doc] = load_yaml_documents(K8S_BASE / "kustomization.yaml")
    return doc


def k8s_objects() -> list[dict[str, Any]]:
    return [doc for name in kustomization()["resources"] for doc in load_yaml_documents(K8S_BASE / name)]


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [obj for obj in k8s_objects() if obj["kind"] == kind]


def config_env() -> dict[str, str]:
    [config] = [obj for obj in by_kind("ConfigMap") if obj["metadata"]["name"] == "ragstream-config"]
    return {str(k): str(v) for k, v in config["data"].items()}


def secret_env() -> dict[str, str]:
    [secret] = [obj for obj in by_kind("Secret") if obj["metadata"]["name"] == "ragstream-secrets"]
    return {str(k): str(v) for k, v in secret["stringData"].items()}


def compose() -> dict[str, Any]:
    # PyYAML resolves the `<<` merge keys and anchors the file uses.
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def quantity(value: str | int | float) -> float:
    match = QUANTITY.match(str(value))
    assert match, f"not a Kubernetes quantity: {value!r}"
    return float(match.group(1)) * _UNITS[match.group(2)]


# -- pydantic models of the parts the checks reason about ---------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Metadata(_Model):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    labels: dict[str, str] = Field(default_factory=dict)


class HttpGet(_Model):
    path: str
    port: int | str


class Probe(_Model):
    http_get: HttpGet | None = Field(default=None, alias="httpGet")
    exec_: dict[str, list[str]] | None = Field(default=None, alias="exec")
    period_seconds: int = Field(default=10, alias="periodSeconds", ge=1)
    failure_threshold: int = Field(default=3, alias="failureThreshold", ge=1)


class Resources(_Model):
    requests: dict[str, str]
    limits: dict[str, str]


class ContainerPort(_Model):
    name: str
    container_port: int = Field(alias="containerPort")


class Ref(_Model):
    name: str


class EnvFrom(_Model):
    config_map_ref: Ref | None = Field(default=None, alias="configMapRef")
    secret_ref: Ref | None = Field(default=None, alias="secretRef")


class VolumeMount(_Model):
    name: str
    mount_path: str = Field(alias="mountPath")


class Container(_Model):
    name: str
    image: str
    args: list[str]
    ports: list[ContainerPort] = Field(default_factory=list)
    env_from: list[EnvFrom] = Field(default_factory=list, alias="envFrom")
    resources: Resources
    readiness_probe: Probe | None = Field(default=None, alias="readinessProbe")
    liveness_probe: Probe | None = Field(default=None, alias="livenessProbe")
    startup_probe: Probe | None = Field(default=None, alias="startupProbe")
    volume_mounts: list[VolumeMount] = Field(default_factory=list, alias="volumeMounts")


class Volume(_Model):
    name: str
    secret: dict[str, Any] | None = None
    config_map: dict[str, Any] | None = Field(default=None, alias="configMap")


class PodSpec(_Model):
    containers: list[Container] = Field(min_length=1)
    init_containers: list[Container] = Field(default_factory=list, alias="initContainers")
    volumes: list[Volume] = Field(default_factory=list)


class PodTemplate(_Model):
    metadata: dict[str, Any]
    spec: PodSpec


class LabelSelector(_Model):
    match_labels: dict[str, str] = Field(alias="matchLabels", min_length=1)


class DeploymentSpec(_Model):
    replicas: int | None = None
    selector: LabelSelector
    template: PodTemplate


class Deployment(_Model):
    metadata: Metadata
    spec: DeploymentSpec

    @property
    def pod_labels(self) -> dict[str, str]:
        return dict(self.spec.template.metadata.get("labels", {}))


class ServicePort(_Model):
    name: str
    port: int
    target_port: int | str = Field(alias="targetPort")


class ServiceSpec(_Model):
    selector: dict[str, str] = Field(min_length=1)
    ports: list[ServicePort] = Field(min_length=1)


class Service(_Model):
    metadata: Metadata
    spec: ServiceSpec


class ScaleTarget(_Model):
    api_version: str = Field(alias="apiVersion")
    kind: str
    name: str


class HpaSpec(_Model):
    scale_target_ref: ScaleTarget = Field(alias="scaleTargetRef")
    min_replicas: int = Field(alias="minReplicas", ge=1)
    max_replicas: int = Field(alias="maxReplicas", ge=1)
    metrics: list[dict[str, Any]] = Field(min_length=1)


class Hpa(_Model):
    metadata: Metadata
    spec: HpaSpec


def deployments() -> dict[str, Deployment]:
    return {obj["metadata"]["name"]: Deployment.model_validate(obj) for obj in by_kind("Deployment")}


def all_containers(deployment: Deployment) -> list[Container]:
    return [*deployment.spec.template.spec.init_containers, *deployment.spec.template.spec.containers]


# -- ragstream command lines and settings -------------------------------------------------------


def check_ragstream_args(args: Sequence[str]) -> None:
    """Fail unless `ragstream <args>` names a real subcommand with valid options (nothing runs)."""
    from ragstream.cli.main import app

    # Duck-typed: recent Typer versions vendor their own copy of click.
    command: Any = typer.main.get_command(app)
    rest = list(args)
    path = ["ragstream"]
    while hasattr(command, "list_commands"):
        assert rest, f"`{' '.join(path)}` needs a subcommand"
        name, *rest = rest
        sub = command.get_command(command.context_class(command), name)
        assert sub is not None, f"`{' '.join(path)}` has no subcommand {name!r}"
        command, path = sub, [*path, name]
    # Parses (and so validates) the options and arguments without invoking the command.
    command.make_context(" ".join(path), list(rest))


def check_setting_names(env: Mapping[str, str], where: str) -> None:
    for key in env:
        if not key.startswith("RAGSTREAM_"):
            continue
        name = key.removeprefix("RAGSTREAM_").lower()
        assert "__" in name, f"{where}: {key} is not a setting (settings are RAGSTREAM_<SECTION>__<FIELD>)"
        section, field = name.split("__", 1)
        if section in PENDING_SECTIONS:
            assert field in PENDING_SECTIONS[section], f"{where}: {key} is not a planned {section} setting"
            continue
        assert section in Settings.model_fields, f"{where}: {key}: no settings section {section!r}"
        model = Settings.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        assert field in model.model_fields, f"{where}: {key}: {section} has no field {field!r}"


def settings_from(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in [key for key in os.environ if key.startswith("RAGSTREAM_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        section = key.removeprefix("RAGSTREAM_").lower().split("__", 1)[0]
        if key.startswith("RAGSTREAM_") and section not in PENDING_SECTIONS:
            monkeypatch.setenv(key, value)
    return Settings()


# == Kubernetes ===================================================================================


def test_kustomization_lists_every_manifest_and_only_existing_ones() -> None:
    resources = kustomization()["resources"]
    present = {path.name for path in K8S_BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(resources) == sorted(present)
    images = {image["name"] for image in kustomization()["images"]}
    for deployment in deployments().values():
        for container in all_containers(deployment):
            assert container.image in images, (
                f"{container.name}: image {container.image} is not set by kustomize"
            )


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_objects_match_the_kubernetes_schemas_strictly(version: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate (dev dependency) ships the schemas"
    )
    for obj in k8s_objects():
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']} is invalid for Kubernetes {version}: {exc}")


def test_every_object_is_named_and_labelled() -> None:
    names: set[tuple[str, str]] = set()
    for obj in k8s_objects():
        metadata = Metadata.model_validate(obj["metadata"])
        assert "namespace" not in obj["metadata"], "the base leaves the namespace to overlays"
        assert metadata.labels.get("app.kubernetes.io/name") == "ragstream"
        assert (obj["kind"], metadata.name) not in names, f"duplicate {obj['kind']} {metadata.name}"
        names.add((obj["kind"], metadata.name))


def test_the_three_roles_are_separate_deployments_running_their_subcommand() -> None:
    found = {name: d.spec.template.spec.containers[0].args for name, d in deployments().items()}
    assert found == {
        "ragstream-command-api": ["serve", "commands"],
        "ragstream-query-api": ["serve", "queries"],
        "ragstream-stream-worker": ["streams", "run", "--loglevel", "INFO"],
    }
    for deployment in deployments().values():
        for container in all_containers(deployment):
            check_ragstream_args(container.args)


def test_selectors_match_the_pod_labels() -> None:
    for name, deployment in deployments().items():
        selector = deployment.spec.selector.match_labels
        assert selector.items() <= deployment.pod_labels.items(), f"{name}: selector matches no pod"
        component = deployment.metadata.labels["app.kubernetes.io/component"]
        assert deployment.pod_labels["app.kubernetes.io/component"] == component


def test_every_container_has_requests_and_limits_within_them() -> None:
    for name, deployment in deployments().items():
        for container in all_containers(deployment):
            for resource in ("cpu", "memory"):
                request = container.resources.requests.get(resource)
                limit = container.resources.limits.get(resource)
                assert request and limit, (
                    f"{name}/{container.name}: {resource} request and limit are required"
                )
                assert quantity(request) <= quantity(limit), (
                    f"{name}/{container.name}: {resource} request > limit"
                )


def test_services_probe_ready_and_health_on_a_declared_port() -> None:
    for name in ("ragstream-command-api", "ragstream-query-api", "ragstream-stream-worker"):
        [container] = deployments()[name].spec.template.spec.containers
        ports = {port.name for port in container.ports} | {port.container_port for port in container.ports}
        readiness, liveness = container.readiness_probe, container.liveness_probe
        assert readiness and readiness.http_get and readiness.http_get.path == "/ready", name
        assert liveness and liveness.http_get and liveness.http_get.path == "/health", name
        for probe in (readiness, liveness, container.startup_probe):
            assert probe is not None and probe.http_get is not None
            assert probe.http_get.port in ports, f"{name}: probe port {probe.http_get.port} is not declared"
        # Liveness must not kill a pod that is merely not ready (e.g. Kafka down): different checks.
        assert liveness.http_get.path != readiness.http_get.path


def test_workers_serve_their_probes_on_the_configured_web_port_and_all_interfaces() -> None:
    [container] = deployments()["ragstream-stream-worker"].spec.template.spec.containers
    env = config_env()
    assert env["RAGSTREAM_STREAMS__WEB_HOST"] == "0.0.0.0"  # a probe from the kubelet must reach it
    assert {p.container_port for p in container.ports if p.name == "http"} == {
        int(env["RAGSTREAM_STREAMS__WEB_PORT"])
    }


def test_references_resolve_to_objects_and_volumes_of_the_base() -> None:
    config_maps = {obj["metadata"]["name"] for obj in by_kind("ConfigMap")}
    secrets = {obj["metadata"]["name"] for obj in by_kind("Secret")}
    for name, deployment in deployments().items():
        pod = deployment.spec.template.spec
        volumes = {volume.name: volume for volume in pod.volumes}
        for volume in pod.volumes:
            if volume.secret is not None:
                assert volume.secret["secretName"] in secrets, f"{name}: volume {volume.name}"
        for container in all_containers(deployment):
            for source in container.env_from:
                if source.config_map_ref:
                    assert source.config_map_ref.name in config_maps, f"{name}/{container.name}"
                if source.secret_ref:
                    assert source.secret_ref.name in secrets, f"{name}/{container.name}"
            for mount in container.volume_mounts:
                assert mount.name in volumes, f"{name}/{container.name}: no volume {mount.name}"


def test_services_and_disruption_budgets_select_a_deployment() -> None:
    pods = {name: deployment.pod_labels for name, deployment in deployments().items()}
    for obj in by_kind("Service"):
        service = Service.model_validate(obj)
        matched = [name for name, labels in pods.items() if service.spec.selector.items() <= labels.items()]
        assert len(matched) == 1, f"service {service.metadata.name} selects {matched}"
        [container] = deployments()[matched[0]].spec.template.spec.containers
        targets = {p.name for p in container.ports} | {p.container_port for p in container.ports}
        for port in service.spec.ports:
            assert port.target_port in targets, f"service {service.metadata.name}: {port.target_port}"
    for obj in by_kind("PodDisruptionBudget"):
        selector = LabelSelector.model_validate(obj["spec"]["selector"]).match_labels
        matched = [name for name, labels in pods.items() if selector.items() <= labels.items()]
        assert len(matched) == 1, f"PDB {obj['metadata']['name']} selects {matched}"
        replicas = deployments()[matched[0]].spec.replicas or 1
        assert obj["spec"]["minAvailable"] < replicas, "a PDB at the replica count blocks every drain"


def test_worker_autoscaler_is_capped_at_the_partition_count() -> None:
    [hpa] = [Hpa.model_validate(obj) for obj in by_kind("HorizontalPodAutoscaler")]
    target = hpa.spec.scale_target_ref
    assert (target.api_version, target.kind) == ("apps/v1", "Deployment")
    worker = deployments()[target.name]
    assert worker.metadata.labels["app.kubernetes.io/component"] == "stream-worker"
    partitions = int(config_env()["RAGSTREAM_KAFKA__PARTITIONS"])
    assert hpa.spec.min_replicas <= hpa.spec.max_replicas == partitions
    # The HPA owns the replica count; a fixed one in the Deployment would fight it on every apply.
    assert worker.spec.replicas is None
    # CPU utilisation is measured against the request, so the workers must have one.
    assert all(c.resources.requests.get("cpu") for c in worker.spec.template.spec.containers)


def test_config_and_secret_keys_are_real_settings_with_valid_values(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**config_env(), **secret_env()}
    assert not set(config_env()) & set(secret_env()), "a key in both the ConfigMap and the Secret"
    check_setting_names(env, "k8s")
    settings = settings_from(env, monkeypatch)
    assert settings.kafka.partitions == 4
    assert settings.api.query_host == "0.0.0.0"
    # Secrets stay out of the ConfigMap.
    for key in config_env():
        assert not re.search(r"(PASSWORD|SECRET|API_KEY)$", key), f"{key} belongs in the Secret"


def test_kustomize_build_renders_the_base() -> None:
    binary = shutil.which("kustomize") or str(Path.home() / ".cache" / "ragstream" / "bin" / "kustomize")
    if not Path(binary).exists():
        pytest.skip("kustomize is not installed (optional: see docs/deployment.md)")
    result = subprocess.run(
        [binary, "build", str(K8S_BASE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(rendered) == len(k8s_objects())
    for obj in rendered:
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ragstream"
        if obj["kind"] == "Deployment":
            selector = obj["spec"]["selector"]["matchLabels"]
            assert "app.kubernetes.io/part-of" not in selector, "selectors are immutable: keep them minimal"
            for container in obj["spec"]["template"]["spec"]["containers"]:
                assert container["image"] == "ragstream:0.1.0"


# == Compose ======================================================================================

# Service keys of the Compose specification used here (a typo is an error, not silently ignored).
COMPOSE_SERVICE_KEYS = {
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "depends_on",
    "healthcheck",
    "ports",
    "volumes",
    "restart",
    "deploy",
    "ulimits",
    "stop_grace_period",
    "user",
    "working_dir",
    "secrets",
    "networks",
    "labels",
}
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


class ComposeHealthcheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    test: list[str] = Field(min_length=2)
    interval: str
    timeout: str
    retries: int = Field(ge=1)
    start_period: str | None = None


class ComposeService(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str
    build: dict[str, str] | None = None
    command: list[str] | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    depends_on: dict[str, dict[str, str]] = Field(default_factory=dict)
    healthcheck: ComposeHealthcheck | None = None
    ports: list[str] = Field(default_factory=list)
    volumes: list[str] = Field(default_factory=list)
    restart: str | None = None
    deploy: dict[str, Any] | None = None
    ulimits: dict[str, Any] | None = None
    stop_grace_period: str | None = None


def compose_services() -> dict[str, ComposeService]:
    services = compose()["services"]
    for name, service in services.items():
        unknown = set(service) - COMPOSE_SERVICE_KEYS
        assert not unknown, f"compose service {name}: unknown keys {unknown}"
    return {name: ComposeService.model_validate(service) for name, service in services.items()}


def example_env() -> dict[str, str]:
    values = {}
    for line in (COMPOSE_DIR / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(value: str, env: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.group(1), match.group(2), match.group(3)
        if name in env and (env[name] or kind != "-"):
            return env[name]
        assert kind != "?", f"${{{name}}} is required but .env.example does not define it"
        return rest or ""

    return _INTERPOLATION.sub(one, value)


def walk_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from walk_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_strings(value)


def test_compose_has_the_whole_single_host_stack() -> None:
    assert set(compose_services()) == {
        "kafka",
        "postgres",
        "opensearch",
        "qdrant",
        "topics",
        "command-api",
        "query-api",
        "stream-worker",
    }


def test_compose_dependencies_volumes_and_ports_resolve() -> None:
    services = compose_services()
    volumes = set(compose().get("volumes") or {})
    for name, service in services.items():
        for dependency, condition in service.depends_on.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition["condition"] in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
            if condition["condition"] == "service_healthy":
                assert services[dependency].healthcheck is not None, f"{dependency} has no healthcheck"
        for volume in service.volumes:
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name}: undeclared volume {source}"
        for port in service.ports:
            parts = interpolate(port, example_env()).split(":")
            assert all(part.isdigit() or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", part) for part in parts), port
        if name in {"kafka", "postgres", "opensearch", "qdrant"}:
            # Infrastructure (OpenSearch has no security plugin) is reachable from this host only.
            assert all(port.startswith("127.0.0.1:") for port in service.ports), f"{name}: {service.ports}"


def test_compose_app_services_run_ragstream_subcommands() -> None:
    services = compose_services()
    for name in ("topics", "command-api", "query-api", "stream-worker"):
        command = services[name].command
        assert command is not None
        check_ragstream_args(command)
        assert services[name].build == {"context": "../..", "dockerfile": "deploy/compose/Dockerfile"}
    assert (COMPOSE_DIR / "Dockerfile").is_file()


def test_compose_workers_stay_within_the_partitions() -> None:
    services = compose_services()
    env = example_env()
    worker = services["stream-worker"]
    assert worker.deploy is not None
    replicas = int(interpolate(str(worker.deploy["replicas"]), env))
    partitions = int(worker.environment["RAGSTREAM_KAFKA__PARTITIONS"])
    assert 1 <= replicas <= partitions
    assert services["kafka"].environment["KAFKA_NUM_PARTITIONS"] == str(partitions)


def test_compose_settings_are_real_and_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    env = example_env()
    for name, service in compose_services().items():
        check_setting_names(service.environment, f"compose {name}")
        if any(key.startswith("RAGSTREAM_") for key in service.environment):
            values = {key: interpolate(value, env) for key, value in service.environment.items()}
            settings = settings_from(values, monkeypatch)
            assert settings.kafka.bootstrap_servers == "kafka:9092"
    # Every required ${VAR:?} has an example value.
    for text in walk_strings(compose()):
        interpolate(text, env)


def test_compose_healthchecks_use_tools_present_in_their_images() -> None:
    services = compose_services()
    for name in ("command-api", "query-api", "stream-worker"):
        healthcheck = services[name].healthcheck
        assert healthcheck is not None
        # The ragstream image is python:3.11-slim: no curl, so probes use Python's urllib.
        assert healthcheck.test[:2] == ["CMD", "python"]
    qdrant = services["qdrant"].healthcheck
    assert qdrant is not None and "curl" not in " ".join(qdrant.test)


# == The answer generator in both ================================================================

GENERATOR_KEYS = ("RAGSTREAM_GENERATOR__KIND", "RAGSTREAM_GENERATOR__BASE_URL", "RAGSTREAM_GENERATOR__MODEL")


def test_both_manifests_pass_the_generators_kind_url_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    query_api = compose_services()["query-api"].environment
    openai = {**example_env(), "RAGSTREAM_GENERATOR_KIND": "openai", "RAGSTREAM_GENERATOR_MODEL": "llama3.1:8b",
              "RAGSTREAM_GENERATOR_BASE_URL": "http://ollama:11434/v1"}  # fmt: skip
    k8s = {**config_env(), **secret_env()}
    for where, env, switch in [
        ("compose", {k: interpolate(v, openai) for k, v in query_api.items()}, {}),
        ("k8s", k8s, {"RAGSTREAM_GENERATOR__KIND": "openai", "RAGSTREAM_GENERATOR__MODEL": "llama3.1:8b"}),
    ]:
        assert set(GENERATOR_KEYS) <= set(env), f"{where} must pass the generator's kind, URL and model"
        generator = settings_from({**env, **switch}, monkeypatch).generator
        assert (generator.kind, generator.model) == ("openai", "llama3.1:8b"), where
        assert generator.base_url.startswith("http"), where
        # Without a model the query API refuses to start, instead of crashing on the first answer.
        with pytest.raises(ValidationError, match=r"generator\.model is required"):
            settings_from({**env, **switch, "RAGSTREAM_GENERATOR__MODEL": ""}, monkeypatch)
    # The default stays the extractive generator, which needs no model.
    assert (
        settings_from(
            {k: interpolate(v, example_env()) for k, v in query_api.items()}, monkeypatch
        ).generator.kind
        == "extractive"
    )
    assert settings_from(k8s, monkeypatch).generator.kind == "extractive"


def test_workers_and_query_api_share_the_key_that_seals_webhook_secrets() -> None:
    services = compose_services()
    key = "RAGSTREAM_NOTIFICATIONS__SECRETS_KEY"
    assert services["query-api"].environment[key] == services["stream-worker"].environment[key]
    assert key in secret_env()
