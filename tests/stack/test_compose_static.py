"""Static checks of the compose deployment (no container engine needed): the file is
valid, every service's environment is understood by that service's Settings, every
variable is documented in .env.example, the ACL template and its renderer agree."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from services.capture.config import CaptureSettings
from services.editor.config import EditorSettings
from services.notes.config import NotesSettings
from services.stt_bridge.config import BridgeSettings
from tests.helpers.procs import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
SETTINGS: dict[str, type[BaseSettings]] = {
    "stt-bridge": BridgeSettings,
    "editor": EditorSettings,
    "notes": NotesSettings,
    "capture-demo": CaptureSettings,
}
NO_APP_SETTINGS = {"sim-stt", "sim-llm"}  # configured by command-line flags only


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Environment variables a Settings class reads (upper case)."""
    names = set()
    for name, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(c).upper() for c in alias.choices)
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"MEDSCRIBE_{name.upper()}")
    return names


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    # A key without a value is passed through from .env; unset there, it is not set at all.
    return {str(k): str(v) for k, v in env.items() if v is not None}


def example_env() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def test_every_app_service_is_mapped_to_its_settings() -> None:
    app = {n for n, s in compose()["services"].items() if "medscribe:" in str(s.get("image"))}
    assert app == set(SETTINGS) | NO_APP_SETTINGS


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_service_environment_matches_its_settings(service: str) -> None:
    env = environment(compose()["services"][service])
    known = env_names(SETTINGS[service])
    for key in env:
        if key.startswith("MEDSCRIBE_") or key in ("ASSEMBLYAI_API_KEY", "DATABASE_URL"):
            assert key in known, f"{service}: {key} is no field of {SETTINGS[service].__name__}"


def test_simulators_get_no_service_settings() -> None:
    for name in NO_APP_SETTINGS:
        assert not environment(compose()["services"][name])


def test_only_the_staff_api_is_published() -> None:
    published = {n for n, s in compose()["services"].items() if s.get("ports")}
    assert published == {"notes"}


def test_every_container_runs_as_non_root() -> None:
    services = compose()["services"]
    for name, svc in services.items():
        if "build" in svc:
            dockerfile = REPO_ROOT / svc["build"]["dockerfile"]
            users = re.findall(r"^USER\s+(\S+)", dockerfile.read_text(), re.M)
            assert users, name
            assert users[-1] not in ("root", "0", "0:0"), name
        user = str(svc.get("user", ""))
        if not svc.get("build"):
            assert user, f"{name} must set a non-root user"
            assert user not in ("root", "0"), f"{name} must set a non-root user"


def test_every_service_has_a_health_check_or_is_one_shot() -> None:
    for name, svc in compose()["services"].items():
        if svc.get("restart") == "no":
            continue
        assert "healthcheck" in svc, name
        assert svc.get("restart") == "unless-stopped", name


def test_every_variable_is_documented_in_env_example() -> None:
    text = COMPOSE.read_text() + "".join(
        (REPO_ROOT / "deploy" / f).read_text() for f in ("compose.rooms.yml", "compose.tls.yml")
    )
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    documented = example_env()
    assert used <= set(documented), f"undocumented: {sorted(used - set(documented))}"
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            name = line.split("=")[0]
            assert lines[i - 1].startswith("#"), f".env.example: {name} has no comment"


def test_acl_template_and_renderer_name_the_same_passwords() -> None:
    acl = (REPO_ROOT / "deploy" / "users.acl").read_text()
    placeholders = set(re.findall(r"\$\{(MEDSCRIBE_REDIS_PASSWORD_[A-Z]+)\}", acl))
    script = (REPO_ROOT / "deploy" / "redis-entrypoint.sh").read_text()
    names = re.search(r"for name in ([A-Z ]+); do", script)
    assert names is not None
    assert {f"MEDSCRIBE_REDIS_PASSWORD_{n}" for n in names.group(1).split()} == placeholders
    redis_env = set(environment(compose()["services"]["redis"]))
    assert placeholders == redis_env
    users = {line.split()[1] for line in acl.splitlines() if line.startswith("user ")}
    assert users == {"default", "admin", "capture", "bridge", "editor", "notes"}
    capture = next(line for line in acl.splitlines() if line.startswith("user capture "))
    assert "ms:turns" not in capture
    assert "~" not in capture.replace("%W~", "").replace("%RW~ms:audio:*", "")


@pytest.fixture
def compose_bin() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    return found


def test_docker_compose_config_accepts_the_file(compose_bin: str, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_EXAMPLE.read_text().replace("change-me", "s3cret"))
    for extra in ([], ["-f", "deploy/compose.rooms.yml"]):
        done = subprocess.run(
            [compose_bin, "--env-file", str(env_file), "-f", "docker-compose.yml", *extra,
             "--profile", "demo", "config"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert resolved["services"]["redis"]["ports"]  # the rooms override publishes Redis
    # The resolved environment of every service builds its Settings without an error.
    for service, cls in SETTINGS.items():
        env = environment(resolved["services"][service])
        cls(_env_file=None, **_as_init(cls, env))


def test_docker_compose_config_refuses_missing_secrets(compose_bin: str, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ASSEMBLYAI_API_KEY=x\n")
    done = subprocess.run(
        [compose_bin, "--env-file", str(env_file), "-f", "docker-compose.yml", "config"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "MEDSCRIBE_REDIS_PASSWORD" in done.stderr or "MEDSCRIBE_POSTGRES" in done.stderr


def _as_init(cls: type[BaseSettings], env: dict[str, str]) -> dict[str, str]:
    """Environment names → constructor keywords (aliases are accepted by name)."""
    out = {}
    for key, value in env.items():
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            choices = (
                [str(c).upper() for c in alias.choices]
                if isinstance(alias, AliasChoices)
                else [f"MEDSCRIBE_{name.upper()}"]
            )
            if key.upper() in choices:
                out[choices[0] if isinstance(alias, AliasChoices) else name] = value
    return out


# Settings a service reads that the compose file does not take from .env, and why.
NOT_FORWARDED: dict[str, str] = {
    "MEDSCRIBE_STREAM_PREFIX": "deploy/users.acl grants each user keys under ms: only",
    "MEDSCRIBE_CONSUMER": "per container (its host name): one value would merge replicas",
    "MEDSCRIBE_REDIS_WAIT_REPLICAS": "Redis Cluster only (docs/cluster.md); compose runs one Redis",
    "MEDSCRIBE_REDIS_WAIT_TIMEOUT_MS": "Redis Cluster only, as above",
    "MEDSCRIBE_CONSUMER_NAME": "per container (its host name): one value would merge replicas",
    "MEDSCRIBE_HEALTH_HOST": "notes answers /readyz on its API port in compose",
    "MEDSCRIBE_HEALTH_PORT": "notes answers /readyz on its API port in compose",
    "MEDSCRIBE_EXPORT_DIR": "the exports volume's mount point, set by the image",
    "MEDSCRIBE_LOG_FORMAT": "json, set by the image (a key without a value would unset it)",
    "MEDSCRIBE_REDIS_ADMIN_URL": "the admin password stays with operators, out of services",
}
# Settings of the shared AssemblyAI block that a service never reads.
NOT_READ: dict[str, set[str]] = {
    "stt-bridge": {"MEDSCRIBE_LLM_GATEWAY_URL", "MEDSCRIBE_LLM_API_KEY"},
    "editor": {"MEDSCRIBE_STREAMING_URL"},
    "notes": {"MEDSCRIBE_STREAMING_URL"},
}


@pytest.mark.parametrize("service", ["stt-bridge", "editor", "notes"])
def test_every_documented_setting_reaches_the_service_that_reads_it(service: str) -> None:
    """Each field of the service's Settings (the README's configuration table is generated
    from them) is in its compose environment, under one of its names, or excused above."""
    env = compose()["services"][service]["environment"]
    missing = []
    for name, info in SETTINGS[service].model_fields.items():
        alias = info.validation_alias
        choices = (
            [str(c).upper() for c in alias.choices]
            if isinstance(alias, AliasChoices)
            else [f"MEDSCRIBE_{name.upper()}"]
        )
        if any(c in env for c in choices):
            continue
        if choices[0] in NOT_FORWARDED or choices[0] in NOT_READ[service]:
            continue
        missing.append(choices[0])
    assert not missing, f"{service}: not forwarded from .env: {missing}"


def test_secure_cookie_and_trusted_proxies_can_be_set() -> None:
    """The two settings a TLS front needs (issue 27) are forwarded to notes."""
    env = compose()["services"]["notes"]["environment"]
    assert "MEDSCRIBE_CONSOLE_SECURE_COOKIE" in env
    assert "MEDSCRIBE_TRUSTED_PROXIES" in env


def test_compose_file_and_editor_replicas_are_set_in_env_example() -> None:
    """An upgrade (`build && up -d`) reads the files and the editor count from .env."""
    example = example_env()
    assert example["COMPOSE_FILE"].split(":")[0] == "docker-compose.yml"
    editor = compose()["services"]["editor"]
    assert editor["deploy"]["replicas"] == "${MEDSCRIBE_EDITOR_REPLICAS:-1}"
    assert "MEDSCRIBE_EDITOR_REPLICAS" in example


def test_a_setting_set_only_in_env_reaches_its_containers(compose_bin: str, tmp_path: Path) -> None:
    """docker-compose resolves the pass-through keys from .env (and leaves unset ones
    unset, so the service's default applies)."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        ENV_EXAMPLE.read_text().replace("change-me", "s3cret")
        + "MEDSCRIBE_CONSOLE_SECURE_COOKIE=true\nMEDSCRIBE_LEASE_MS=9000\n"
    )
    done = subprocess.run(
        [compose_bin, "--env-file", str(env_file), "-f", "docker-compose.yml", "config"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    notes = environment(services["notes"])
    assert notes["MEDSCRIBE_CONSOLE_SECURE_COOKIE"] == "true"
    assert "MEDSCRIBE_TRUSTED_PROXIES" not in notes  # not in .env: the default applies
    assert NotesSettings(_env_file=None, **_as_init(NotesSettings, notes)).console_secure_cookie
    assert environment(services["stt-bridge"])["MEDSCRIBE_LEASE_MS"] == "9000"
    assert "MEDSCRIBE_LEASE_MS" not in environment(services["editor"])
