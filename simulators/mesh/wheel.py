"""The ``ansys-health-heart`` wheel: fetched once with pip, checked, cached.

The MIT-licensed PyPI wheel ``ansys-health-heart==0.16.2`` ships the meshes
and Purkinje trees of the Rodero et al. (2021) hearts. `fetch_wheel` fetches
it with ``pip download --no-deps`` (never installed: its dependencies are
heavy and pinned), checks it against the sha256 of the file published on
PyPI, and keeps it in twinml's data cache (`cache_dir`), from where
`simulators.mesh.rodero` and `simulators.ep.purkinje` read it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import platformdirs

from simulators.errors import DataError, ParameterError

logger = logging.getLogger(__name__)

__all__ = ["PACKAGE", "WHEEL_NAME", "WHEEL_SHA256", "cache_dir", "fetch_wheel"]

PACKAGE = "ansys-health-heart==0.16.2"
WHEEL_NAME = "ansys_health_heart-0.16.2-py3-none-any.whl"
#: sha256 of the wheel on PyPI (PyPI files are immutable).
WHEEL_SHA256 = "1671a3be52f057259b02a5bad0142c6d2a29ee16938256b36812eb10ced8b705"


def cache_dir() -> Path:
    """Folder of twinml's data cache.

    Returns
    -------
    Path
        ``$TWINML_CACHE`` when set and non-empty, else the platform's user
        cache folder for "twinml" (for example ``~/.cache/twinml``). It is not
        created here.
    """
    env = os.environ.get("TWINML_CACHE", "")
    folder = Path(env) if env else Path(platformdirs.user_cache_dir("twinml"))
    where = f"TWINML_CACHE={env!r}" if env else f"the user cache {str(folder)!r}"
    if folder.exists() and not folder.is_dir():
        raise ParameterError(
            f"{where} is a file, not a folder; point TWINML_CACHE at a folder"
        )
    # a folder still to be made must not lie under a file
    above = next((p for p in folder.absolute().parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise ParameterError(
            f"{where} lies under {str(above)!r}, which is a file, not a folder; "
            "point TWINML_CACHE at a folder"
        )
    return folder


def fetch_wheel(cache_dir: Path | None = None) -> Path:
    """Return the ``ansys-health-heart`` wheel, downloading it once with pip.

    The wheel is reused when its sha256, recorded beside it at download, still
    matches. Otherwise ``pip download --no-deps`` fetches it into a temporary
    folder, its hash is checked against the PyPI file's, and it is moved into
    the cache atomically.

    Parameters
    ----------
    cache_dir : Path or None, default None
        Cache folder; None means `cache_dir()`.

    Returns
    -------
    Path
        The cached wheel, ``<cache_dir>/ansys_health_heart-0.16.2-py3-none-any.whl``.

    Raises
    ------
    DataError
        If pip fails (the message ends with pip's output) or the download does
        not match the known hash.
    """
    root = _root(cache_dir)
    wheel = root / WHEEL_NAME
    record = root / f"{WHEEL_NAME}.sha256"
    if wheel.is_file() and record.is_file():
        if _sha256(wheel) == record.read_text().strip():
            logger.debug("reusing cached wheel %s", wheel)
            return wheel
        logger.warning("cached wheel %s fails its sha256 check; fetching again", wheel)

    # download into a private folder on the same file system
    logger.info("downloading %s with pip (about 23 MB)", PACKAGE)
    tmp = Path(tempfile.mkdtemp(prefix=".pip-download-", dir=root))
    try:
        got = _pip_download(tmp)
        digest = _sha256(got)
        if digest != WHEEL_SHA256:
            raise DataError(
                f"downloaded {got.name} has sha256 {digest}, expected "
                f"{WHEEL_SHA256} (the file published on PyPI)"
            )

        # the wheel first, then its record: a wheel without one is refetched
        os.replace(got, wheel)
        _write_text_atomic(record, digest + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("cached %s", wheel)
    return wheel


def _root(folder: Path | None) -> Path:
    """Resolve and create the cache folder."""
    root = Path(folder) if folder is not None else cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    return root


def _pip_download(folder: Path) -> Path:
    """Run ``pip download`` into `folder` and return the wheel it saved."""
    cmd = [sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps"]
    cmd += ["--disable-pip-version-check", "--no-input", "-d", str(folder)]
    try:
        proc = subprocess.run(
            cmd, check=False, capture_output=True, text=True, timeout=900
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"could not run {' '.join(cmd)}: {exc}") from exc

    output = (proc.stdout or "") + (proc.stderr or "")
    wheel = folder / WHEEL_NAME
    if proc.returncode != 0 or not wheel.is_file():
        raise DataError(
            f"pip download {PACKAGE} failed (exit code {proc.returncode}, "
            f"expected {WHEEL_NAME} in {folder}); pip output ends:\n"
            f"{output[-2000:]}"
        )
    return wheel


def _sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_text_atomic(path: Path, text: str) -> None:
    """Write a small text file through a temporary name and `os.replace`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
