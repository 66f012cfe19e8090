"""Cheap checks of packaging/ (the real build and its smoke test run in CI: ci_bundle.sh)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "packaging"
SPEC = PKG / "foley-desktop.spec"
SCRIPTS = ["build_linux.sh", "smoke_test.sh", "ci_bundle.sh", "startup_bench.sh",
           "launcher.sh", "install.sh"]


def _spec_constants() -> dict:
    """The spec's module-level constants and `keep` filter, without running PyInstaller."""
    tree = ast.parse(SPEC.read_text(), filename=str(SPEC))
    wanted = {"NOT_SHIPPED", "EXCLUDES", "DROP_QT_PLUGINS", "DROP_LIBS", "GPU"}
    body = [n for n in tree.body
            if (isinstance(n, ast.Assign) and {t.id for t in n.targets
                                               if isinstance(t, ast.Name)} & wanted)
            or (isinstance(n, ast.FunctionDef) and n.name == "keep")]
    ns: dict = {"re": re, "os": os}
    # The spec's own constants (this repository's file), not outside input.
    exec(compile(ast.Module(body=body, type_ignores=[]), str(SPEC), "exec"), ns)
    return ns


def test_spec_parses_and_keeps_what_the_app_loads():
    ns = _spec_constants()
    keep = ns["keep"]
    for dest in ["PySide6/Qt/lib/libQt6Widgets.so.6", "PySide6/Qt/plugins/platforms/libqxcb.so",
                 "PySide6/Qt/plugins/platforms/libqwayland.so",
                 "PySide6/Qt/plugins/platforms/libqoffscreen.so",
                 "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
                 "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so",
                 "libportaudio.so.2", "libjack.so.0", "libfontconfig.so.1",
                 "onnxruntime/capi/libonnxruntime.so.1.31.1",
                 "resources/models/foley-tiny/manifest.json"]:
        assert keep(dest), dest
    for dest in ["PySide6/Qt/translations/qtbase_de.qm", "libQt6Quick.so.6",
                 "PySide6/Qt/lib/libQt6Qml.so.6", "libcairo.so.2", "libcairo-gobject.so.2",
                 "libharfbuzz.so.0", "libasound.so.2", "libcudart.so.13", "libcudnn.so.9",
                 "libstdc++.so.6", "libgcc_s.so.1", "libmvec.so.1",
                 "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
                 "PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
                 "PySide6/Qt/plugins/platforms/libqeglfs.so"]:
        assert not keep(dest), dest
    # The GPU plug-ins follow the switch.
    assert keep("onnxruntime/capi/libonnxruntime_providers_cuda.so") == ns["GPU"]
    assert "torch" in ns["EXCLUDES"] and "foley_desktop.train" in ns["NOT_SHIPPED"]


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in tree.body:  # module level only: these run when the module is imported
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_shipped_modules_do_not_import_what_the_bundle_leaves_out():
    """A module-level import of an excluded package would break the frozen app on start."""
    ns = _spec_constants()
    excluded = tuple(ns["EXCLUDES"])
    offenders = []
    for path in sorted((REPO / "foley_desktop").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        if module.startswith(ns["NOT_SHIPPED"]):
            continue
        for name in _top_level_imports(path):
            if any(name == e or name.startswith(e + ".") for e in excluded):
                offenders.append(f"{module} imports {name}")
    assert not offenders, offenders


def test_desktop_entry_validates_and_names_the_icon():
    entry = (PKG / "foley-desktop.desktop").read_text()
    fields = dict(line.split("=", 1) for line in entry.splitlines() if "=" in line)
    assert fields["Exec"].split()[0] == "foley-desktop"
    assert fields["Icon"] == "foley-desktop"
    assert (REPO / "resources/icons/foley-desktop.svg").is_file(), "the app icon is missing"
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate not installed (apt-get install desktop-file-utils)")
    result = subprocess.run([tool, str(PKG / "foley-desktop.desktop")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_shell_scripts_parse(script):
    path = PKG / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    shell = "sh" if path.read_text().startswith("#!/bin/sh") else "bash"
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_launcher_runs_the_binary_beside_it_through_a_symlink(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    fake = bundle / "foley-desktop"
    fake.write_text('#!/bin/sh\necho "ran $0 with: $*"\n')
    fake.chmod(0o755)
    shutil.copy(PKG / "launcher.sh", bundle / "foley-desktop.sh")
    link = tmp_path / "bin" / "foley-desktop"
    link.parent.mkdir()
    link.symlink_to(bundle / "foley-desktop.sh")
    out = subprocess.run([str(link), "clip one.mp4", "--x"], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == f"ran {fake} with: clip one.mp4 --x"


def _run_hook(tmp_path, env_extra: dict[str, str]) -> list[str]:
    """Run the runtime hook as the frozen app would, with a fake bundle folder."""
    meipass = tmp_path / "_internal"
    (meipass / "pyrnnoise").mkdir(parents=True, exist_ok=True)
    (meipass / "libportaudio.so.2").write_bytes(b"")
    (meipass / "pyrnnoise" / "librnnoise.so").write_bytes(b"")
    code = textwrap.dedent(f"""
        import os, runpy, sys
        sys._MEIPASS = {str(meipass)!r}
        runpy.run_path({str(PKG / 'rthook_foley.py')!r})
        import ctypes.util
        print(os.environ["FOLEY_DESKTOP_RESOURCES"])
        print(os.environ["FOLEY_RNNOISE_LIB"])
        print(ctypes.util.find_library("portaudio"))
        print(ctypes.util.find_library("portaudiocpp"))
    """)
    env = {k: v for k, v in os.environ.items()
           if k not in ("FOLEY_DESKTOP_RESOURCES", "FOLEY_RNNOISE_LIB")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout
    return out.splitlines()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux bundle hook")
def test_runtime_hook_points_the_app_into_the_bundle(tmp_path):
    res, rn, pa, other = _run_hook(tmp_path, {})
    meipass = tmp_path / "_internal"
    assert res == str(meipass / "resources")
    assert rn == str(meipass / "pyrnnoise" / "librnnoise.so")
    assert pa == str(meipass / "libportaudio.so.2")
    assert not other.startswith(str(meipass))  # only an exact lib<name>.so[.N] counts
    # A variable the user set wins.
    res, *_ = _run_hook(tmp_path, {"FOLEY_DESKTOP_RESOURCES": "/elsewhere"})
    assert res == "/elsewhere"
