"""The layout as documented is the layout of the code: docs/architecture.md's drawing has exactly the imports
between rooms that the code has, no two rooms import each other, every room is named in the architecture
document and in README's layout section, and nothing in the repository sends a reader to a folder outside it."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tools import layout

ROOT = layout.ROOT
REGENERATE = "run `python -m tools.layout --write` and describe the change in docs/architecture.md"


def test_the_drawing_has_exactly_the_imports_between_rooms_that_the_code_has():
    drawn = layout.drawn_edges(layout.DOC.read_text(encoding="utf-8"))
    actual = layout.edges()
    assert actual, "no imports found: the scan is broken"
    assert not actual - drawn, f"imports in the code missing from the drawing: {sorted(actual - drawn)}; {REGENERATE}"
    assert not drawn - actual, f"arrows in the drawing the code no longer has: {sorted(drawn - actual)}; {REGENERATE}"


def test_the_generated_block_including_floors_is_current():
    text = layout.DOC.read_text(encoding="utf-8")
    block = text.split(layout.BEGIN, 1)[1].split(layout.END, 1)[0]
    assert block == layout.render().split(layout.BEGIN, 1)[1].split(layout.END, 1)[0], REGENERATE


def test_no_two_rooms_import_each_other():
    level = layout.floors(layout.rooms(), layout.edges())  # raises on a cycle, naming it
    assert all(level[a] > level[b] for a, b in layout.edges())


def test_every_room_is_named_in_the_architecture_document_and_the_readme_layout():
    rooms_table = layout.DOC.read_text(encoding="utf-8").split("## Rooms", 1)[1].split("\n## ", 1)[0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    readme_layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for room in layout.rooms():
        assert f"| `{room}` |" in rooms_table, f"{room} is not in docs/architecture.md's room table"
        short = room.split(".", 1)[1] if room.startswith("bot.") else room
        assert re.search(rf"(?<![\w.]){re.escape(short)}(/|\.py|\b)", readme_layout), \
            f"{room} is not named in README's layout section"


# ------------------------------------------------------------------------- the scanner itself, on a made-up tree

def _tree(root: Path, files: dict) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_scan_sees_every_form_of_import(tmp_path):
    root = _tree(tmp_path, {
        "bot/__init__.py": "",
        "bot/settings.py": "import os\n",
        "bot/db.py": "from bot.settings import X\n",                        # absolute, from a loose module
        "bot/alpha/__init__.py": "",
        "bot/alpha/one.py": "from . import two\nfrom ..beta import thing\n",  # relative, within and across
        "bot/alpha/two.py": "def f():\n    from bot import db\n",         # inside a function, submodule by name
        "bot/beta/__init__.py": "import sqlalchemy\n",                       # third party: not a room
        "bot/beta/thing.py": "import bot.settings\n",
        "actions/x.py": "from bot.alpha.one import y\nimport rasa_sdk\n",
        "bench/__init__.py": "",
    })
    assert layout.edges(root) == {("bot.db", "bot.settings"), ("bot.alpha", "bot.beta"), ("bot.alpha", "bot.db"),
                                  ("bot.beta", "bot.settings"), ("actions", "bot.alpha")}
    assert layout.rooms(root) == ["actions", "bench", "bot", "bot.alpha", "bot.beta", "bot.db", "bot.settings"]
    assert layout.floors(layout.rooms(root), layout.edges(root))["actions"] == 3


def test_a_cycle_between_rooms_is_named():
    with pytest.raises(ValueError, match="bot.a --> bot.b --> bot.a"):
        layout.floors(["bot.a", "bot.b"], {("bot.a", "bot.b"), ("bot.b", "bot.a")})


def test_an_arrow_missing_from_the_drawing_is_noticed():
    text = layout.render()
    first = next(line for line in text.splitlines() if layout.ARROW.match(line))
    missing = layout.edges() - layout.drawn_edges(text.replace(first + "\n", ""))
    assert len(missing) == 1 and layout.drawn_edges(text) == layout.edges()


# ------------------------------------------------------------------------- a self-contained repository

OUTSIDE = re.compile(r"\.\./shared|/work/|shared/DESIGN|parent\s*/\s*[\"']shared[\"']")
SKIP_DIRS = {".git", ".venv", "models", "build", "var", "node_modules", "__pycache__", ".pytest_cache",
             ".ruff_cache", "artifacts", "results"}
# Files that may name a folder outside the repository, and why.
MAY_POINT_OUTSIDE = {
    # The research-only corpora (SMP2017/SMP2019, CrossWOZ, ChatterBot samples) are never copied into the
    # repository; these read them at run time and skip, saying so, where they are absent.
    "bot/nlu/evaluate.py": "reads the research-only SMP2017 corpus at run time",
    "bot/nlu/oos_corpora.py": "samples the research-only corpora at run time",
    "tests/test_nlu_heldout.py": "reads the research-only SMP2017 corpus; skips with the reason when it is absent",
    "NOTICE": "says where the research-only corpora are read from and that they are not in the repository",
}


def _text_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            if name in SKIP_DIRS:  # a worktree's .git is a file naming the main repository's folder
                continue
            path = Path(folder) / name
            try:
                yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue  # binary (images, fonts, archives)


def test_nothing_in_the_repository_points_to_a_folder_outside_it():
    offenders = [f"{rel}:{text[:m.start()].count(chr(10)) + 1}: {m.group(0)}"
                 for rel, text in _text_files() if rel not in MAY_POINT_OUTSIDE and rel != "tests/test_layout.py"
                 for m in OUTSIDE.finditer(text)]
    assert not offenders, offenders
