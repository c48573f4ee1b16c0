"""A wheel no lock names, for the tests that show pip refusing a package without its hash."""

from __future__ import annotations

import zipfile
from pathlib import Path

NAME = "unhashed-1.0-py3-none-any.whl"
REFUSED = "Hashes are required in --require-hashes mode"


def write_unhashed_wheel(folder: Path) -> Path:
    """A minimal, valid wheel of a package `unhashed`, written into `folder`."""
    wheel = folder / NAME
    info = "unhashed-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("unhashed.py", "")
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: unhashed\nVersion: 1.0\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel
