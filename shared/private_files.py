"""Owner-only files and folders for patient data (audio spool, SQLite database).

Explicit modes rather than a process umask: the services run in processes shared with
other code (tests, ``medscribe demo``), and a umask would change every file they write.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create ``path`` (and missing parents) owner-only.

    ``tighten`` also removes group/other access from an existing folder that is ours (a
    folder dedicated to patient data, such as the spool); a folder of someone else's is
    left alone and the files in it still get owner-only modes.
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created meanwhile by another process
            folder.mkdir(mode=DIR_MODE)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    if tighten and not missing:
        _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and only its owner can read or write it."""
    fd = os.open(path, os.O_CREAT | os.O_RDONLY, FILE_MODE)
    os.close(fd)
    _tighten(path, FILE_MODE)
    return path


def open_private(path: Path, mode: str, buffering: int = -1) -> IO[Any]:
    """``open(path, mode)`` where a newly created file is owner-only from the start."""
    flags = os.O_CREAT | (os.O_RDWR if "+" in mode else os.O_WRONLY)
    if "a" in mode:
        flags |= os.O_APPEND
    elif "w" in mode:
        flags |= os.O_TRUNC
    fd = os.open(path, flags, FILE_MODE)
    return os.fdopen(fd, mode, buffering=buffering)


def _tighten(path: Path, wanted: int) -> None:
    """chmod to ``wanted`` when the path is ours and allows more (others' files: as is)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & ~wanted:
        os.chmod(path, wanted)
