"""`foley-desktop project …` and `foley-desktop export …` on a real clip."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import wavinfo

from foley_desktop.cli import main
from foley_desktop.media.wav import write_wav
from foley_desktop.project import io
from foley_desktop.project.commands import AddTake
from foley_desktop.project.model import Take


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_headless_project_session(clip_hello, tmp_path, capsys):
    p = tmp_path / "hello.foley"
    rc, out, err = cli(capsys, "project", "new", clip_hello, "-o", p)
    assert rc == 0 and "399792 samples" in out
    rc, out, _ = cli(capsys, "project", "add-segment", p, "--start", "1.5", "--end", "00:00:03:15",
                     "--prompt", "door slam", "--negative", "music", "--seed", "7",
                     "--variations", "2")
    assert rc == 0
    seg_id = out.strip()
    rc, out, _ = cli(capsys, "project", "add-segment", p, "--start", "00:00:05.000", "--end", "6",
                     "--prompt", "typing")
    assert rc == 0
    project = io.load(p)
    a, b = project.segments
    assert a.id == seg_id
    assert (a.start, a.end) == (72000, 3 * 48000 + 15 * 1600)  # 00:00:03:15 at 30 fps
    assert (a.prompt, a.negative, a.seed, a.variations) == ("door slam", "music", 7, 2)
    assert (b.start, b.end) == (240000, 288000)
    rc, _, _ = cli(capsys, "project", "edit-segment", p, seg_id, "--end", "4", "--gain", "-3")
    assert rc == 0
    assert io.load(p).segment(seg_id).end == 192000
    assert io.load(p).segment(seg_id).gain_db == -3.0
    rc, out, _ = cli(capsys, "project", "show", p)
    assert rc == 0 and "door slam" in out and "not separated" in out and seg_id in out
    rc, out, _ = cli(capsys, "project", "show", p, "--json")
    doc = json.loads(out)
    assert doc["format_version"] == 1 and len(doc["segments"]) == 2 and doc["media_exists"]
    rc, _, _ = cli(capsys, "project", "remove-segment", p, b.id)
    assert rc == 0 and len(io.load(p).segments) == 1

    # A take (as generate --project would add) and an export with every timeline.
    project = io.load(p)
    seg = project.segment(seg_id)
    f = project.cache_dir / "takes" / "t.wav"
    f.parent.mkdir(parents=True)
    write_wav(f, np.full(seg.length, 0.1, np.float32), subtype="FLOAT")
    AddTake(seg_id, Take(id="t1", path=f, seed=7, model="m", variant="int8")).apply(project)
    io.save(project)
    rc, _, _ = cli(capsys, "project", "choose-take", p, seg_id, "t1")
    assert rc == 0
    out_dir = tmp_path / "export"
    rc, out, err = cli(capsys, "export", p, "-o", out_dir, "--format", "wav32f",
                       "--stems", "foley,mix", "--timeline", "otio,fcp7xml,edl", "--json")
    assert rc == 0, err
    files = json.loads(out)["files"]
    names = sorted(f.rsplit("/", 1)[1] for f in files)
    assert names == sorted(["movie-hello_FX_48k32f.wav", "movie-hello_MIX_48k32f.wav",
                            "movie-hello_01_door-slam_s7_48k32f.wav", "movie-hello.otio",
                            "movie-hello_fcp7.xml", "movie-hello_Foley1.edl"])
    fx = wavinfo.WavInfoReader(str(out_dir / "movie-hello_FX_48k32f.wav"))
    assert fx.data.frame_count == 399792 and fx.fmt.audio_format == 3


def test_user_mistakes_exit_2_with_one_line(clip_hello, tmp_path, capsys):
    p = tmp_path / "x.foley"
    assert cli(capsys, "project", "new", clip_hello, "-o", p)[0] == 0
    cases = [
        (("project", "new", clip_hello, "-o", p), "exists"),
        (("project", "add-segment", p, "--start", "9", "--end", "10", "--prompt", "x"), "past the clip's end"),
        (("project", "add-segment", p, "--start", "2", "--end", "1", "--prompt", "x"), "end after it starts"),
        (("project", "add-segment", p, "--start", "soon", "--end", "1", "--prompt", "x"), "bad start time"),
        (("project", "add-segment", p, "--start", "1", "--end", "2", "--prompt", " "), "non-empty"),
        (("project", "edit-segment", p, "nope", "--prompt", "y"), "no segment"),
        (("project", "show", tmp_path / "missing.foley"), "no such project file"),
        (("export", p, "-o", tmp_path / "o", "--stems", "foley", "--timeline", "edl"), "no take files"),
    ]
    for args, message in cases:
        rc, _, err = cli(capsys, *args)
        if message == "no take files":  # not an error: the EDL is skipped with a note
            assert rc == 0 and message in err
            continue
        assert rc == 2, (args, err)
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    (tmp_path / "bad.foley").write_text("{ not json")
    rc, _, err = cli(capsys, "project", "show", tmp_path / "bad.foley")
    assert rc == 2 and "corrupt" in err


def test_cli_runs_as_a_program(clip_hello, tmp_path):
    r = subprocess.run([sys.executable, "-m", "foley_desktop", "project", "new", str(clip_hello),
                        "-o", str(tmp_path / "a.foley")], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.foley").exists()


def test_full_headless_flow_through_generate_project(clip_hello, tmp_path, capsys):
    """project new -> add-segment -> generate --project --all -> export, all via the CLI."""
    import json as _json

    import soundfile

    from foley_desktop.cli import main
    from foley_desktop.engine import testpkg
    from foley_desktop.media import probe

    pkg = tmp_path / "pkg"
    testpkg.build(pkg)
    p = tmp_path / "flow.foley"
    assert main(["project", "new", str(clip_hello), "-o", str(p)]) == 0
    assert main(["project", "add-segment", str(p), "--start", "1.0", "--end", "2.5",
                 "--prompt", "keyboard typing", "--seed", "3", "--variations", "2"]) == 0
    capsys.readouterr()
    assert main(["generate", "--project", str(p), "--all", "--model", str(pkg), "--json"]) == 0
    made = _json.loads(capsys.readouterr().out)
    assert [m["seed"] for m in made] == [3, 4]
    assert made[0]["params"]["prompt"] == "keyboard typing" and made[0]["params"]["model_hash"]
    # `project show` says what made each take.
    assert main(["project", "show", str(p)]) == 0
    shown = capsys.readouterr().out
    assert "Prompt: keyboard typing" in shown and made[0]["params"]["model_hash"] in shown
    # Nothing changed: nothing to generate (a fixed seed; random seeds stop at the count too).
    assert main(["generate", "--project", str(p), "--all", "--model", str(pkg)]) == 0
    assert "nothing to generate" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main(["export", str(p), "-o", str(out), "--stems", "foley,mix"]) == 0
    fx = next(out.glob("*_FX_48k24.wav"))
    audio, sr = soundfile.read(fx)
    assert sr == 48000 and len(audio) == probe(clip_hello).duration_samples
    # Silence before the segment's start sample, the take right at it.
    assert abs(audio[:48000]).max() == 0
    assert abs(audio[48000:48000 + 4800]).max() > 0


def test_project_separate_gives_the_export_its_dialogue_and_background(clip_tank, tmp_path,
                                                                       capsys):
    """`project separate` records the stems and speech regions in the project (its cache
    folder), so `export` writes DX and BG stems from them instead of omitting dialogue."""
    import soundfile as sf

    proj = tmp_path / "t.foley"
    cli(capsys, "project", "new", clip_tank, "-o", proj)
    code, out, err = cli(capsys, "project", "separate", proj)
    assert code == 0, err
    p = io.load(proj)
    assert set(p.stems) == {"dialogue", "background"}
    for path in p.stems.values():
        assert path.parent == p.cache_dir / "stems" and path.exists()
        assert sf.info(str(path)).frames == p.duration_samples
    assert "dialogue:" in out and "speech region" in out
    code, _out, err = cli(capsys, "export", proj, "-o", tmp_path / "out", "--timeline", "otio")
    assert code == 0, err
    names = sorted(f.name for f in (tmp_path / "out").iterdir())
    assert any("_DX_" in n for n in names) and any("_BG_" in n for n in names), names
    # A project whose clip has no audio: one line, exit 2.
    p.media_info["audio_channels"] = 0
    io.save(p)
    code, _out, err = cli(capsys, "project", "separate", proj)
    assert code == 2 and "no audio" in err and len(err.strip().splitlines()) == 1
