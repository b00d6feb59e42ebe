"""The shared profile vectors are what earlgate.ble.profile says today.

tests/js/ble-profile.test.mjs runs the browser's codecs on the same file, so
the two implementations agree byte for byte as long as both pass.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def load_maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_profile_vectors", HERE / "make_profile_vectors.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_regenerating_the_vectors_gives_the_committed_file() -> None:
    maker = load_maker()
    committed = (HERE / "vectors" / "profile.json").read_text(encoding="utf-8")
    assert maker.render() == committed, "run python tests/ble/make_profile_vectors.py"


def test_the_vectors_cover_every_codec_with_values_and_errors() -> None:
    vectors = json.loads((HERE / "vectors" / "profile.json").read_text(encoding="utf-8"))
    for kind in ("reading", "info", "led", "status"):
        section = vectors[kind]
        assert all("decoded" in v for v in section["valid"]), kind
        assert all("error" in v for v in section["bad_bytes"] + section["bad_values"]), kind
        outcomes = {"error" in v for v in section["random"]}
        assert outcomes == {True, False}, f"{kind}: random vectors all {outcomes}"
