"""Run each atheris fuzz target in fuzz/ for a bounded time (FOLEY_FUZZ_SECONDS, default 15).

Each target runs in its own subprocess (both at once), from a copy of its seed corpus, and
fails the test on any crash: an exception other than the typed error the target expects, a
failed round-trip assertion, or a hard crash. The crashing input's base64 is in the message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris; it has "
                    "wheels for CPython on Linux x86-64 only)")

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"fuzz_project_loader.py": "project", "fuzz_bwf_roundtrip.py": "bwf"}


def _rss_limit_mb() -> int:
    """libFuzzer's memory limit (its default 2048 MB) above what the target starts with: Linux
    carries a process's peak RSS into the child it spawns (ru_maxrss survives fork and exec),
    so a target spawned by a pytest process that peaked at 2.1 GB was reported out of memory
    before it ran anything."""
    import resource

    return 2048 + resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def test_fuzz_targets_run_clean(tmp_path):
    seconds = int(os.environ.get("FOLEY_FUZZ_SECONDS", "15"))
    procs = {}
    for target, corpus in TARGETS.items():
        work = tmp_path / corpus
        shutil.copytree(REPO / "fuzz" / "corpus" / corpus, work / "corpus")
        procs[target] = subprocess.Popen(
            [sys.executable, str(REPO / "fuzz" / target), f"-max_total_time={seconds}",
             f"-artifact_prefix={work}/", "-print_final_stats=1",
             f"-rss_limit_mb={_rss_limit_mb()}", str(work / "corpus")],
            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    failures = []
    for target, p in procs.items():
        try:
            out, _ = p.communicate(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            failures.append(f"{target}: hung\n{out[-3000:]}")
            continue
        runs = [line for line in out.splitlines() if line.startswith("stat::number_of_executed_units")]
        if p.returncode != 0:
            failures.append(f"{target}: exit {p.returncode}\n{out[-3000:]}")
        elif not runs or int(runs[0].split(":")[-1]) < 100:
            failures.append(f"{target}: hardly ran\n{out[-2000:]}")
    assert not failures, "\n\n".join(failures)
