"""Owner-only files and folders: everything govcx creates in its state dir (the database,
checkpoints, keys, a pack's data) is readable by its owner only. The bottom layer: imports
nothing of govcx."""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["private_dir", "private_file", "tighten_tree"]


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700; take group/other bits off it if it
    exists. Returns ``path``."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _owner_only(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty as 0600 if missing (so SQLite's -wal/-shm, which copy the
    database file's mode, are 0600 too); take group/other bits off it if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _owner_only(path, 0o600)
    else:
        os.close(fd)
    return path


def _owner_only(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & 0o077:
            os.chmod(path, current & ~0o077 | (mode & 0o700))
    except PermissionError:  # not ours: leave it, the operator chose it
        pass


def tighten_tree(root: Path) -> None:
    """Take group/other permission bits off everything under ``root`` (third-party code,
    such as Chroma or a pack's own store, creates files with the process umask)."""
    if not root.exists():
        return
    _owner_only(root, 0o700)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            _owner_only(Path(dirpath) / name, 0o700)
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                _owner_only(p, 0o600)
