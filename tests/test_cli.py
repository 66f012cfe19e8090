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
