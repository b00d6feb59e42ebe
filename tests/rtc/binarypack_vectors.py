"""The vectors of make_binarypack_vectors.cjs, and how to read them."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

VECTORS = json.loads((Path(__file__).parent / "binarypack_vectors.json").read_text())


def materialize(d: Any) -> Any:
    """Build the value a descriptor of make_binarypack_vectors.cjs stands for."""
    if isinstance(d, list):
        return [materialize(item) for item in d]
    if not isinstance(d, dict):
        return d
    if "$bytes" in d:
        return bytes.fromhex(d["$bytes"])
    if "$repeat_str" in d:
        text, count = d["$repeat_str"]
        return text * count
    if "$repeat_bytes" in d:
        byte, count = d["$repeat_bytes"]
        return bytes([byte]) * count
    if "$range" in d:
        return list(range(d["$range"]))
    if "$int16le" in d:
        return struct.pack(f"<{len(d['$int16le'])}h", *d["$int16le"])
    if "$undefined" in d:
        return None
    return {key: materialize(value) for key, value in d.items()}


def matches(data: bytes, expected: Any) -> bool:
    if isinstance(expected, str):
        return data.hex() == expected
    return (
        len(data) == expected["len"]
        and data[:16].hex() == expected["head"]
        and hashlib.sha256(data).hexdigest() == expected["sha256"]
    )
