"""Stored notebook outputs: no progress bars, no tracebacks, and a course map that matches the folder.

The committed notebooks carry their full-mode outputs (DESIGN, "Notebook conventions"). These
checks read the stored JSON only; nothing is executed except the few lines of 00_welcome that
build the map of the course.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
COURSE = sorted(p for p in NOTEBOOKS if re.fullmatch(r"\d\d_.+\.ipynb", p.name))
WELCOME = NOTEBOOK_DIR / "00_welcome.ipynb"
MAP_TAG = "course-map"  # the tag of the cell of 00_welcome that prints the map
RERUN_00 = (
    "re-run 00_welcome (a few seconds): cd notebooks && DIFFUSION_COURSE_DOWNLOAD=0 ../.venv/bin/jupyter "
    "nbconvert --to notebook --execute --inplace 00_welcome.ipynb"
)

# tqdm's text bar (" 40%|####      | 4/10 [00:01<00:02, 3.1it/s]") and its notebook widget
# (an ipywidgets HBox holding a FloatProgress, whose text/plain shows the same bar)
PROGRESS = re.compile(r"\d+%\||\d+(\.\d+)?(it/s|s/it)\]|\[\d+:\d\d<|FloatProgress|IntProgress")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _outputs(path: Path):
    """(cell index, output) for every stored output of the notebook's code cells."""
    for i, cell in enumerate(_cells(path)):
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            yield i, out


def _output_texts(out: dict) -> list[str]:
    """Every text an output shows: stream text, error traceback, and the textual parts of rich data."""
    texts = [_text(out.get("text", ""))] + [_text(line) for line in out.get("traceback", [])]
    for mime, value in out.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith("json"):  # widget state is a dict, text a str or list
            texts.append(json.dumps(value) if isinstance(value, dict) else _text(value))
    return texts


def test_the_course_has_notebooks():
    assert WELCOME in COURSE and len(COURSE) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_progress_bar_in_stored_outputs(path):
    found = []
    for i, out in _outputs(path):
        for text in _output_texts(out):
            if PROGRESS.search(text) or "\r" in text:
                found.append(f"cell {i} ({out['output_type']}): {text.strip()[:80]!r}")
                break
    assert not found, f"{path.name} stores progress-bar output; run with progress off:\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_traceback_in_stored_outputs(path):
    found = []
    for i, out in _outputs(path):
        if out["output_type"] == "error":
            found.append(f"cell {i}: error output {out.get('ename')}: {out.get('evalue', '')[:80]}")
        elif any("Traceback (most recent call last)" in text for text in _output_texts(out)):
            found.append(f"cell {i}: a traceback in a {out['output_type']} output")
    assert not found, f"{path.name} stores a traceback:\n" + "\n".join(found)


def _title(path: Path) -> str:
    """The title of a notebook: its first cell's first line without '#' and the 'NN ·' prefix."""
    cells = _cells(path)
    first_line = _text(cells[0]["source"]).strip().splitlines()[0] if cells else ""
    return first_line.lstrip("#").strip().split("·", 1)[-1].strip()


def _map_cell() -> dict:
    tagged = [c for c in _cells(WELCOME) if MAP_TAG in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"00_welcome needs exactly one code cell tagged {MAP_TAG!r} (it prints the map)"
    return tagged[0]


def _stored_map() -> str:
    datas = [out.get("data", {}) for out in _map_cell().get("outputs", [])]
    markdown = [_text(data["text/markdown"]) for data in datas if "text/markdown" in data]
    assert markdown, f"the map cell of 00_welcome has no stored Markdown output; {RERUN_00}"
    return markdown[0]


def test_stored_map_in_00_lists_exactly_the_notebooks_in_the_folder():
    rows = re.findall(r"^\| `([^`]+)` \| (.*) \|$", _stored_map(), flags=re.MULTILINE)
    listed = [stem for stem, _ in rows]
    on_disk = [p.stem for p in COURSE]
    assert listed == on_disk, f"00's stored map lists {listed}, notebooks/ has {on_disk}; {RERUN_00}"
    for stem, title in rows:
        assert title == _title(NOTEBOOK_DIR / f"{stem}.ipynb").replace("|", "/"), f"stale title of {stem}; {RERUN_00}"


def test_map_function_of_00_reproduces_the_stored_map():
    """Run the imports and the function definition of 00's map cell (not its display) on the folder."""
    tree = ast.parse(_text(_map_cell()["source"]))
    definitions = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom | ast.FunctionDef)]
    namespace: dict = {}
    exec(compile(ast.Module(body=definitions, type_ignores=[]), "00_welcome map cell", "exec"), namespace)
    fresh = namespace["course_map"](NOTEBOOK_DIR)
    assert fresh == _stored_map(), f"00's stored map is stale; {RERUN_00}"
    assert fresh.count("\n| `") == len(COURSE)


def test_readme_table_lists_exactly_the_notebooks_in_the_folder():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The notebooks", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(\d\d_[^`]+)` \|", section, flags=re.MULTILINE)
    on_disk = [p.stem for p in COURSE]
    assert listed == on_disk, f"README's table of notebooks lists {listed}, notebooks/ has {on_disk}"
