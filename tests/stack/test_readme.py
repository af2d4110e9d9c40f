"""The README's configuration table lists every variable any Settings class reads, and
the operator documentation names every compose service."""

from __future__ import annotations

from pathlib import Path

import yaml

from medscribe import settings_table
from medscribe.supervisor.config import SupervisorSettings
from services.capture.config import CaptureSettings
from services.editor.config import EditorSettings
from services.notes.config import NotesSettings
from services.stt_bridge.config import BridgeSettings
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
    assert not missing, f"README lacks {missing}: python -m medscribe.settings_table --write"


def test_configuration_table_is_generated_from_the_settings() -> None:
    """Defaults and descriptions, not just names: a changed default fails here."""
    text = README.read_text(encoding="utf-8")
    have = settings_table.current(text)
    assert have is not None, "README lacks the settings-table markers"
    want = settings_table.table()
    if have != want:
        stale = sorted(set(have.splitlines()) ^ set(want.splitlines()))[:6]
        raise AssertionError(
            f"README settings table differs from the Settings classes {stale}: "
            "python -m medscribe.settings_table --write"
        )


def test_table_shows_each_service_default_where_they_differ() -> None:
    rows = {r.split(" | ")[0]: r for r in settings_table.rows()}
    timeout = rows["| `MEDSCRIBE_GATEWAY_TIMEOUT_S`"]
    editor = EditorSettings.model_fields["gateway_timeout_s"].default
    notes = NotesSettings.model_fields["gateway_timeout_s"].default
    assert f"editor: `{editor}`" in timeout
    assert f"notes: `{notes}`" in timeout


def test_rewrite_puts_the_generated_table_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    stale = "\n".join([settings_table.START, "| old | row |", settings_table.END])
    readme.write_text(f"# title\n\n{stale}\n\n## next\n", encoding="utf-8")
    assert settings_table.rewrite(readme)
    text = readme.read_text(encoding="utf-8")
    assert settings_table.current(text) == settings_table.table()
    assert text.startswith("# title\n\n")
    assert text.endswith("\n\n## next\n")
    assert not settings_table.rewrite(readme)  # already current


def test_readme_names_every_compose_service() -> None:
    text = README.read_text(encoding="utf-8")
    services = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    for name in services:
        assert name in text, name
