"""The README's code is the project's code: its excerpts and links must stay true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_service_excerpt_is_copied_from_the_city_service():
    source = "\n".join(p.read_text() for p in (ROOT / "services/city/city_service").glob("*.py"))
    source_lines = {line.strip() for line in source.splitlines()}
    (excerpt,) = python_blocks(README)
    code = [line.strip() for line in excerpt.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    missing = [line for line in code if line not in source_lines]
    assert not missing, f"README lines not in services/city/city_service: {missing}"


def test_the_readme_stays_short():
    assert len(README.splitlines()) <= 200  # the front door: the details live in docs/


def test_every_relative_link_in_the_docs_points_at_a_file():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://", "mailto:")) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_the_layout_names_every_part_of_the_library_and_nothing_else():
    block = README[README.index("## Layout"):README.index("## Documentation")]
    start = block.index("libs/sanicms/sanicms/")
    lines = block[start:].splitlines()[1:]
    listed = set()
    for line in lines:
        if not line.startswith("  ") or line.startswith("   "):
            if not line.startswith(" "):
                break  # the next top-level folder
            continue  # a continued description
        names = line.strip().split("  ")[0]
        listed |= {name.strip().rstrip("/") for name in names.split(",")}
    package = ROOT / "libs" / "sanicms" / "sanicms"
    present = {p.name.rstrip("/") for p in package.iterdir()
               if p.name not in ("__pycache__", "py.typed") and (p.is_dir() or p.suffix in (".py", ".yml"))}
    assert listed == present
