"""Fuzz the project loader: any bytes as a `.foley` file.

The only acceptable failure is `ProjectError` (one line, what the user sees); anything else
(KeyError, TypeError, RecursionError …) is a crash. Loading must never accept a file whose
takes or stems point outside the project folder.

    python fuzz/fuzz_project_loader.py -max_total_time=20 fuzz/corpus/project
"""

import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from foley_desktop.errors import ProjectError
    from foley_desktop.project import io

FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-project-"))
FILE = FOLDER / "fuzz.foley"


def TestOneInput(data: bytes) -> None:
    FILE.write_bytes(data)
    try:
        project = io.load(FILE)
    except ProjectError as exc:
        assert "\n" not in str(exc), f"multi-line error: {exc!r}"
        return
    for seg in project.segments:
        for take in seg.takes:
            assert io.is_inside(take.path, FOLDER), take.path
    for p in project.stems.values():
        assert io.is_inside(p, FOLDER), p
    # What loads must save and load again to the same project.
    text = io.dumps(project, FOLDER)
    FILE.write_text(text)
    again = io.load(FILE)
    assert io.dumps(again, FOLDER) == text


if __name__ == "__main__":
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    os.environ.setdefault("FOLEY_DESKTOP_DATA", str(FOLDER / "data"))
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
