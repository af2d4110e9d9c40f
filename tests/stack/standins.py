"""Stand-in base images for the stack test (no image registry here): a debootstrapped
Debian bookworm, then python:3.11-slim, redis:7, postgres:15 and caddy:2.6 built from the recipes in
tests/stack/images/ and tagged with the names the deployment uses, so nothing is pulled.
Images are kept between runs and rebuilt only when their recipe changes (a label holds
the recipe's hash). See ../shared/design/containers.md."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

IMAGES_DIR = Path(__file__).parent / "images"
BASE = "localhost/bookworm:base"
STANDINS = {
    "python": "docker.io/library/python:3.11-slim",
    # Debian's redis-server under the pinned tag (the stand-in cannot be the real 7.4.6).
    "redis": "docker.io/library/redis:7.4.6",
    "postgres": "docker.io/library/postgres:15",
    # Debian's caddy 2.6.2 under the tag deploy/compose.tls.yml names.
    "caddy": "docker.io/library/caddy:2.6",
}
CONTAINERS_CONF = Path("/etc/containers/containers.conf")
CONF_TEXT = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def run(*args: str, timeout: float = 600, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, check=False, **kw
    )  # type: ignore[call-overload]


def ensure_podman_config() -> None:
    """podman here needs no default ulimits and runc (crun fails on hybrid cgroups)."""
    text = CONTAINERS_CONF.read_text() if CONTAINERS_CONF.exists() else ""
    if "default_ulimits = []" in text and 'runtime = "runc"' in text:
        return
    if text.strip():
        raise RuntimeError(f"{CONTAINERS_CONF} exists without the settings this test needs")
    CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
    CONTAINERS_CONF.write_text(CONF_TEXT)


def image_label(image: str, label: str) -> str | None:
    fmt = f'{{{{index .Labels "{label}"}}}}'
    done = run("podman", "image", "inspect", "--format", fmt, image)
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_base() -> None:
    if run("podman", "image", "exists", BASE).returncode == 0:
        return
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="ms-rootfs-") as root:
        done = run("debootstrap", "--variant=minbase", "bookworm", root, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"debootstrap failed: {done.stderr[-500:]}")
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imp = run("podman", "import", "-", BASE, stdin=tar.stdout, timeout=300)
        tar.wait()
        if imp.returncode != 0:
            raise RuntimeError(f"podman import failed: {imp.stderr[-500:]}")


def _recipe_hash(folder: Path, extra: bytes = b"") -> str:
    h = hashlib.sha256(extra)
    for f in sorted(folder.iterdir()):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def ensure_standins() -> None:
    for name, tag in STANDINS.items():
        folder = IMAGES_DIR / name
        ca = HOST_CA.read_bytes() if name == "python" and HOST_CA.exists() else b""
        digest = _recipe_hash(folder, ca)
        if image_label(tag, "medscribe.standin") == digest:
            continue
        with tempfile.TemporaryDirectory(prefix=f"ms-{name}-") as ctx:
            for f in folder.iterdir():
                shutil.copy2(f, ctx)
            if name == "python":
                shutil.copy2(HOST_CA, Path(ctx) / "ca-certificates.crt")
            done = run(
                "podman", "build", "-q", "--label", f"medscribe.standin={digest}",
                "-t", tag, "-f", str(Path(ctx) / "Containerfile"), ctx, timeout=900,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"building the {name} stand-in failed: {done.stderr[-800:]}")
