"""The README and docs/ as a reader follows them: every link and picture is there, and the README stays short."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 200
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "firmware" / "README.md",
        ROOT / "packaging" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
#: Written for the import layout being moved into place; its paths are checked once it has landed.
TARGET_LAYOUT_PAGES: set[Path] = set()
#: Paths a page names that are made later: test output, and files a contributor is told to create.
NOT_YET_THERE = ("tests/artifacts/", "resources/gamecontrollerdb.txt")

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
REPO_PATH = re.compile(r"`((?:server|teleop|tests|bench|packaging|firmware|resources|docs|\.ci)/[\w./-]*)`")
PYTHON_MODULE = re.compile(r"python3? -m ((?:server|teleop)(?:\.\w+)*)")


def prose(text: str) -> str:
    """The text a reader sees as prose: code blocks and inline code removed (their brackets are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors on its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for match in HEADING.finditer(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return [*LINK.findall(text), *REFERENCE.findall(text)]


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...: not ours to check offline
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{fragment} in {shown(resolved)}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_and_picture_on_the_page_leads_somewhere(page):
    assert page.exists()
    assert broken_links(page) == []


def test_the_readme_is_read_in_five_minutes():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move reference material into docs/"


def test_the_readme_starts_with_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:6])
    assert "python3 dev.py demo" in head and "python3 dev.py test" in head


def test_every_page_in_docs_is_linked_from_the_readme():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(ROOT / "README.md")}
    assert sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.resolve() not in linked) == []


@pytest.mark.parametrize("page", [p for p in PAGES if p not in TARGET_LAYOUT_PAGES], ids=lambda page: str(page.relative_to(ROOT)))
def test_the_files_and_modules_a_page_names_exist(page):
    """A path like `server/camera.py` or a `python -m server.simdevice` the reader types must be there."""
    text = page.read_text(encoding="utf-8")
    named = [path.rstrip(".") for path in REPO_PATH.findall(text) if not path.startswith(NOT_YET_THERE)]
    missing = [path for path in named if not (ROOT / path).exists()]
    missing += [f"python -m {name}" for name in PYTHON_MODULE.findall(text) if importlib.util.find_spec(name) is None]
    assert missing == []


def test_the_link_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    """The checks above would pass on any page if the checker saw no links: show it catches both kinds."""
    (tmp_path / "other.md").write_text("# Other page\n\n## The stop byte (0x18)\n\n## Setting up\n\n## Setting up\n")
    page = tmp_path / "page.md"
    page.write_text(
        "See [the byte](other.md#the-stop-byte-0x18), [again](other.md#setting-up-1), ![pic](missing.png),\n"
        "[gone](other.md#no-such-heading) and [here](#top).\n\n# Top\n\n```\n[not a link](nowhere.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.png: no such file",
        "other.md#no-such-heading: no heading with anchor #no-such-heading in other.md",
    ]
