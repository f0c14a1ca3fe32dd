"""Reader for VTK XML PolyData (``.vtp``) line sets, such as Purkinje trees.

meshio does not read PolyData, so this small reader handles what the real
heart's Purkinje files use: inline ``binary`` (base64, optionally zlib
compressed in blocks, UInt32 or UInt64 headers) and ``ascii`` data arrays,
points and polylines. Appended data is refused with a clear message.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np

from simulators.errors import MeshError

_DTYPES = {
    "Int8": "i1", "UInt8": "u1", "Int16": "i2", "UInt16": "u2", "Int32": "i4",
    "UInt32": "u4", "Int64": "i8", "UInt64": "u8", "Float32": "f4", "Float64": "f8",
}  # fmt: skip


def read_vtp_lines(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Points, line segments and point data of a PolyData file.

    Parameters
    ----------
    path : str or Path
        A ``.vtp`` file.

    Returns
    -------
    points : ndarray of shape (n_points, 3)
    segments : ndarray of shape (n_segments, 2), int
        Each polyline split into its consecutive segments.
    point_data : dict of str to ndarray
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as err:
        raise MeshError(f"cannot read {path} as VTK XML: {err}") from None
    if root.get("type") != "PolyData":
        raise MeshError(f"{path} holds {root.get('type')!r}, expected PolyData")
    fmt = {
        "order": "<"
        if root.get("byte_order", "LittleEndian") == "LittleEndian"
        else ">",
        "header": "u8" if root.get("header_type") == "UInt64" else "u4",
        "zlib": root.get("compressor") == "vtkZLibDataCompressor",
    }
    piece = root.find("PolyData/Piece")
    if piece is None:
        raise MeshError(f"{path} has no PolyData/Piece")

    # points, polylines and point fields
    points = _array(piece.find("Points/DataArray"), fmt, path).reshape(-1, 3)
    lines = piece.find("Lines")
    if lines is None:
        raise MeshError(f"{path} has no Lines: not a line set")
    arrays = {a.get("Name"): a for a in lines.findall("DataArray")}
    conn = _array(arrays.get("connectivity"), fmt, path).astype(np.int64)
    offsets = _array(arrays.get("offsets"), fmt, path).astype(np.int64)
    starts = np.concatenate([[0], offsets[:-1]])
    segments = [
        np.stack([conn[a : b - 1], conn[a + 1 : b]], axis=1)
        for a, b in zip(starts, offsets, strict=True)
        if b - a >= 2
    ]
    point_data = {
        a.get("Name"): _array(a, fmt, path)
        for a in piece.findall("PointData/DataArray")
    }
    seg = np.concatenate(segments) if segments else np.zeros((0, 2), np.int64)
    if seg.size and (seg.min() < 0 or seg.max() >= len(points)):
        raise MeshError(
            f"{path}: line connectivity refers to points outside 0..{len(points) - 1}"
        )
    return points, seg, point_data


def _array(node: ET.Element | None, fmt: dict, path: Path) -> np.ndarray:
    """Decode one DataArray element."""
    if node is None:
        raise MeshError(f"{path} lacks a required DataArray")
    dtype = np.dtype(_DTYPES[node.get("type")]).newbyteorder(fmt["order"])
    encoding = node.get("format", "ascii")
    text = "".join((node.text or "").split())
    if encoding == "ascii":
        return np.array((node.text or "").split(), dtype=dtype.newbyteorder("="))
    if encoding != "binary":
        raise MeshError(
            f"{path}: DataArray {node.get('Name')!r} uses {encoding!r} data; only "
            "inline binary or ascii arrays are supported"
        )
    header = np.dtype(fmt["header"]).newbyteorder(fmt["order"])
    raw = _decompress(text, header) if fmt["zlib"] else _plain(text, header)
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))


def _b64_len(n_bytes: int) -> int:
    return 4 * ((n_bytes + 2) // 3)


def _plain(text: str, header: np.dtype) -> bytes:
    """Uncompressed: a byte-count header followed by the data, one base64 run."""
    raw = base64.b64decode(text)
    size = int(np.frombuffer(raw[: header.itemsize], dtype=header)[0])
    return raw[header.itemsize : header.itemsize + size]


def _decompress(text: str, header: np.dtype) -> bytes:
    """zlib blocks: a base64 header of block sizes, then the base64 blocks."""
    first = base64.b64decode(text[: _b64_len(3 * header.itemsize)])
    n_blocks = int(np.frombuffer(first[: header.itemsize], dtype=header)[0])
    head_len = _b64_len((3 + n_blocks) * header.itemsize)
    head = np.frombuffer(base64.b64decode(text[:head_len]), dtype=header)
    sizes = head[3 : 3 + n_blocks].astype(np.int64)
    blob = base64.b64decode(text[head_len:])
    ends = np.cumsum(sizes)
    starts = ends - sizes
    return b"".join(
        zlib.decompress(blob[a:b]) for a, b in zip(starts, ends, strict=True)
    )
