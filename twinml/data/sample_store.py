"""One file per finished sample of a sweep, written atomically, checked on read.

`SampleStore` keeps ``root/samples/<key>.npz``: the sample's arrays plus
``meta_json`` (uint8 bytes of a JSON object holding the key and pipeline
version). A file is written under a temporary name and renamed into place;
on read every array is decompressed (so zip CRCs are checked) and the key,
pipeline version and array sizes are compared with what the file claims. A
damaged file is logged and removed so that the sweep recomputes it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from twinml.provenance import atomic_write

logger = logging.getLogger(__name__)

#: Arrays every sample file holds besides ``meta_json``.
REQUIRED_ARRAYS = ("t_lbbb_ms", "t_crt_ms")


class SampleStore:
    """One ``.npz`` per finished sample under ``root/samples``.

    Parameters
    ----------
    root : str or Path
        The sweep's folder.
    pipeline : str
        Version of the pipeline that made the samples; files of another
        version count as damaged.
    """

    def __init__(self, root: str | Path, pipeline: str) -> None:
        self.root = Path(root)
        self.folder = self.root / "samples"
        self.pipeline = pipeline

    def path(self, key: str) -> Path:
        """File of a sample."""
        return self.folder / f"{key}.npz"

    def save(self, key: str, result: dict[str, Any]) -> Path:
        """Write a sample's arrays and meta atomically."""
        meta = {"key": key, "pipeline": self.pipeline, **result["meta"]}
        text = json.dumps(meta, sort_keys=True).encode()
        arrays = {**result["arrays"], "meta_json": np.frombuffer(text, np.uint8)}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

        return atomic_write(self.path(key), write)

    def load(self, key: str, remove: bool = True) -> dict[str, Any] | None:
        """A sample's arrays and meta, or None when absent or damaged.

        A damaged file is logged and, with `remove` (the sweep's reading),
        removed so that the sweep recomputes it; a reader that recomputes
        nothing passes ``remove=False`` and leaves it in place.
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}  # checks CRCs
            meta = json.loads(arrays.pop("meta_json").tobytes())
            _check_entry(key, self.pipeline, arrays, meta)
        except Exception as err:  # noqa: BLE001 - any damage means recompute
            fate = "recomputing it" if remove else "skipped, left in place"
            logger.warning("sample file %s is damaged (%s); %s", path, err, fate)
            if remove:
                path.unlink(missing_ok=True)
            return None
        return {"arrays": arrays, "meta": meta}

    def keys(self) -> list[str]:
        """Keys of the files present (valid or not)."""
        return sorted(p.stem for p in self.folder.glob("*.npz"))

    def remove_partials(self) -> int:
        """Delete temporary files left by an interrupted write."""
        stale = list(self.folder.glob(".*.part"))
        for p in stale:
            p.unlink(missing_ok=True)
        return len(stale)


def _check_entry(key: str, pipeline: str, arrays: dict, meta: dict) -> None:
    """Raise ValueError unless the entry is whole and is the one asked for."""
    missing = [a for a in REQUIRED_ARRAYS if a not in arrays]
    if missing:
        raise ValueError(f"missing arrays {missing}")
    if meta.get("key") != key or meta.get("pipeline") != pipeline:
        raise ValueError(f"holds key {meta.get('key')!r}, expected {key!r}")
    n = meta["n_points"]
    for name in ("t_lbbb_ms", "t_crt_ms"):
        if arrays[name].shape != (n,):
            raise ValueError(f"{name} has shape {arrays[name].shape}, expected ({n},)")
    if "points" in arrays and arrays["points"].shape != (n, 3):
        raise ValueError(f"points has shape {arrays['points'].shape}")
