import subprocess
import sys

import pytest

from foley_desktop import __version__
from foley_desktop.cli import SUBCOMMANDS, _command_module, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "foley_desktop", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"foley-desktop {__version__}"


def test_help_lists_every_subcommand():
    r = run_cli("--help")
    assert r.returncode == 0
    for name in SUBCOMMANDS:
        assert name in r.stdout


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_subcommand_help(name, capsys):
    module = _command_module(name)
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert module.HELP.split()[0] in capsys.readouterr().out


def test_the_window_without_a_display_or_a_mistyped_command_is_one_line(tmp_path):
    """`foley-desktop` over SSH (no display) aborted inside Qt with a screenful about platform
    plugins; `foley-desktop generat` said only "no such file"."""
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "foley_desktop"], capture_output=True, text=True,
                       env=env, timeout=60, check=False)
    if sys.platform.startswith("linux"):
        assert r.returncode == 2 and "no display" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "foley_desktop", "generat"], capture_output=True,
                       text=True, timeout=60, check=False, cwd=tmp_path)
    assert r.returncode == 2 and "did you mean `foley-desktop generate`?" in r.stderr
