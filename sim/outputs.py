"""Writing results safely: nothing half-written, nothing overwritten by accident.

Every command that writes a folder stages it in a temporary folder beside the target and renames
it into place only when everything is written (:func:`staged_folder`); single tables are written
to a temporary file and renamed (:func:`write_table`). Renames within one file system are atomic.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from sim.errors import InputError


def check_new_folder(out: Path, overwrite: bool, hint: str = "or add --overwrite") -> Path:
    """Refuse an existing non-empty folder (or a file) unless overwriting was asked for."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("output path is a file, not a folder", file=str(out), field="--out")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError("output folder exists and is not empty", file=str(out), field="--out",
                         allowed=f"a new or empty folder, {hint}")
    return out


def stage_dir(out: Path) -> Path:
    """A new temporary folder beside ``out`` (same file system, so it can be renamed into place),
    with the permissions of an ordinary folder."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)          # mkdtemp makes a private folder; results are for sharing
    return tmp


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out`` that replaces ``out`` when the block succeeds."""
    out = Path(out)
    tmp = stage_dir(out)
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Write a CSV or Parquet table atomically (temporary file, then rename)."""
    path = Path(path)
    _atomic(path, (lambda tmp: df.to_parquet(tmp, index=False)) if path.suffix == ".parquet"
            else (lambda tmp: df.to_csv(tmp, index=False, float_format="%.12g")))


def write_text(text: str, path: Path) -> None:
    """Write a text file atomically (temporary file, then rename)."""
    _atomic(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
