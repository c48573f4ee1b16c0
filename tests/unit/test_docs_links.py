"""The README and docs/ stay true to the tree: every relative link reaches its file (and its heading),
every test they name exists, and every `make` target they name is the Makefile's."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#* *$", re.MULTILINE)
# A test named as `tests/<path>.py::<test>` (in backticks).
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
# `make <target>` in code: inline (`make up`, `RCODER_API_KEY=... make up`) or a line of a code block.
MAKE_IN_SPAN = re.compile(r"`(?:[A-Z_]+=\S* )*make ([a-z][a-z-]*)")
MAKE_IN_BLOCK = re.compile(r"^(?:[A-Z_]+=\S* +)*make ([a-z][a-z-]*)", re.MULTILINE)
MAKE_TARGET = re.compile(r"^([a-z][a-z-]*):", re.MULTILINE)


def documents(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The text without code: links in code are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        name, n = anchor(heading), 1
        while name in found:  # GitHub numbers repeated headings: name, name-1, name-2, ...
            name, n = f"{anchor(heading)}-{n}", n + 1
        found.add(name)
    return found


def broken_links(docs: list[Path], root: Path = ROOT) -> list[str]:
    broken = []
    for doc in docs:
        for target in LINK.findall(prose(doc.read_text())):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto: (not checked here)
            path, _, fragment = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            where = f"{doc.relative_to(root)}: {target}"
            if not file.exists():
                broken.append(f"{where} (no such file)")
            elif fragment and (file.suffix != ".md" or fragment not in anchors(file)):
                broken.append(f"{where} (no such heading)")
    return broken


def missing_tests(docs: list[Path], root: Path = ROOT) -> list[str]:
    missing = []
    for doc in docs:
        for path, name in TEST_REFERENCE.findall(doc.read_text()):
            file = root / path
            if not file.exists() or not re.search(rf"^(async )?def {name}\(", file.read_text(), re.MULTILINE):
                missing.append(f"{doc.relative_to(root)}: {path}::{name}")
    return missing


def unknown_targets(docs: list[Path], root: Path = ROOT) -> list[str]:
    targets = set(MAKE_TARGET.findall((root / "Makefile").read_text()))
    unknown = []
    for doc in docs:
        text = doc.read_text()
        named = MAKE_IN_SPAN.findall(text)
        for block in FENCE.findall(text):
            named += MAKE_IN_BLOCK.findall(block)
        unknown += [f"{doc.relative_to(root)}: make {target}" for target in named if target not in targets]
    return sorted(set(unknown))


def test_every_relative_link_reaches_its_file_and_heading():
    assert broken_links(documents()) == []


def test_every_test_the_docs_name_exists():
    assert missing_tests(documents()) == []


def test_every_make_target_the_docs_name_is_the_makefiles():
    assert unknown_targets(documents()) == []


def test_the_checks_see_a_broken_link_a_missing_test_and_an_unknown_target(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_there():\n    pass\n")
    (tmp_path / "Makefile").write_text("up: ## run it\n\t@true\n")
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Two words\n")
    (tmp_path / "README.md").write_text(
        "[a](docs/a.md) [b](docs/a.md#two-words) [c](docs/gone.md) [d](docs/a.md#one-word)\n"
        "`[e](docs/gone.md)` [f](https://example.com) [g](#self)\n\n## Self\n\n"
        "`tests/test_a.py::test_there` `tests/test_a.py::test_gone` `tests/test_b.py::test_x`\n"
        "`make up` `make down`\n\n```sh\nmake up\nX=1 make clean   # a comment\n```\n"
    )
    docs = documents(tmp_path)

    assert broken_links(docs, tmp_path) == [
        "README.md: docs/gone.md (no such file)",
        "README.md: docs/a.md#one-word (no such heading)",
    ]
    assert missing_tests(docs, tmp_path) == [
        "README.md: tests/test_a.py::test_gone",
        "README.md: tests/test_b.py::test_x",
    ]
    assert unknown_targets(docs, tmp_path) == ["README.md: make clean", "README.md: make down"]
