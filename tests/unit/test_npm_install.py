"""npm_install: one install per folder however many processes ask at once.

A stand-in ``npm`` on PATH (a shell script that counts its runs and writes
the package folder slowly) makes the race reproducible without the registry.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from earlgate.testing.npm import NpmError, npm_install

FAKE_NPM = """#!/bin/sh
# npm install --prefix FOLDER --no-audit --no-fund PACKAGES...
echo run >> "$COUNT"
sleep 0.5
[ "$FAIL" = 1 ] && { echo "npm ERR! 404 Not Found - $6" >&2; exit 1; }
mkdir -p "$3/node_modules/pkg" && touch "$3/node_modules/pkg/package.json"
"""


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM)
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    node = bin_dir / "node"
    node.write_text("#!/bin/sh\n")
    node.chmod(0o755)
    count = tmp_path / "runs"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("COUNT", str(count))
    return count


def install(folder: Path) -> None:
    marker = folder / "node_modules" / "pkg" / "package.json"
    npm_install(folder, ["pkg@1"], marker.is_file)


def test_processes_asking_at_once_install_once(fake_npm: Path, tmp_path: Path) -> None:
    folder = tmp_path / "modules"
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(install, [folder] * 4))
    assert fake_npm.read_text().splitlines() == ["run"]
    install(folder)  # installed: npm is not run again
    assert fake_npm.read_text().splitlines() == ["run"]


def test_a_failed_install_carries_npms_words(
    fake_npm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL", "1")
    with pytest.raises(NpmError, match=r"npm install pkg@1 failed: npm ERR! 404 Not Found"):
        install(tmp_path / "modules")


def test_without_npm_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NpmError, match="apt-get install nodejs npm"):
        install(tmp_path / "modules")
