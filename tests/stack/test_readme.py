"""The README's configuration table lists every variable any Settings class reads, and
the operator documentation names every compose service."""

from __future__ import annotations

import yaml

from services.capture.config import CaptureSettings
from services.editor.config import EditorSettings
from services.notes.config import NotesSettings
from services.stt_bridge.config import BridgeSettings
from services.supervisor.config import SupervisorSettings
from shared.config import ToolSettings
from tests.helpers.procs import REPO_ROOT
from tests.stack.test_compose_static import env_names

README = REPO_ROOT / "README.md"
ALL_SETTINGS = (
    BridgeSettings, EditorSettings, NotesSettings, CaptureSettings, SupervisorSettings,
    ToolSettings,
)  # fmt: skip


def test_configuration_table_lists_every_variable() -> None:
    text = README.read_text(encoding="utf-8")
    missing = sorted(
        name for cls in ALL_SETTINGS for name in env_names(cls) if f"`{name}`" not in text
    )
    assert not missing, f"README lacks {missing}: python -m tests.stack.readme_table"


def test_readme_names_every_compose_service() -> None:
    text = README.read_text(encoding="utf-8")
    services = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    for name in services:
        assert name in text, name
