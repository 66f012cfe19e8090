"""Training foley-tiny to follow spotting markers: the event encoder starts at exactly the model
it is fine-tuned from, the markers drawn for a batch (jitter, misses, strays, rows without
markers) are seeded and leave the rest of the batch alone, strengths come from the clip's
loudness, and a model with the event input survives export -> recover. Needs torch."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from foley_desktop.engine.events import EVENTS_INPUT
from foley_desktop.train import codec
from foley_desktop.train.model import Config, Denoiser
from foley_desktop.train.train import (
    FoleyTiny,
    MarkerAugment,
    Sources,
    event_strengths,
    event_tracks,
    init_from,
)

SMALL = {"d": 32, "blocks": 1, "heads": 2, "text_dim": 24, "vis_dim": 16, "frame_size": 16}


def test_a_fresh_event_encoder_changes_nothing_and_the_other_weights_match():
    torch.manual_seed(0)
    plain = Denoiser(Config(**SMALL))
    torch.manual_seed(0)
    ev = Denoiser(Config(**SMALL, event_channels=2))
    for k, v in plain.state_dict().items():      # same initial draw for the shared weights
        assert torch.equal(ev.state_dict()[k], v)
    with torch.no_grad():                        # a trained model (the zero-init layers too)
        for p in plain.parameters():
            p.normal_(0, 0.3)
    ev.load_state_dict(plain.state_dict(), strict=False)
    x, t = torch.randn(2, 64, 37), torch.rand(2)
    tf, tm, vis = torch.randn(2, 5, 24), torch.ones(2, 5), torch.randn(2, 9, 16)
    with torch.no_grad():
        a = plain(x, t, tf, tm, vis)
        b = ev(x, t, tf, tm, vis, torch.rand(2, 37, 2))
    assert a.abs().max() > 0 and torch.equal(a, b)
    # once the encoder's last layer has learned something, a pulse changes the output
    with torch.no_grad():
        torch.nn.init.normal_(ev.events.fc2.weight, std=0.5)
        track = torch.zeros(2, 37, 2)
        c = ev(x, t, tf, tm, vis, track)
        track[:, 20, 0] = 1.0
        d = ev(x, t, tf, tm, vis, track)
    assert (d - c).abs().max() > 1e-3


def test_init_from_takes_an_older_checkpoint_and_refuses_other_shapes():
    torch.manual_seed(1)
    old = FoleyTiny(Config(**SMALL))
    new = FoleyTiny(Config(**SMALL, event_channels=2))
    init_from(new, old.state_dict())
    for k, v in old.state_dict().items():
        assert torch.equal(new.state_dict()[k], v)
    assert not new.denoiser.events.fc2.weight.any()
    with pytest.raises(SystemExit, match="does not fit"):
        init_from(FoleyTiny(Config(**{**SMALL, "d": 48})), old.state_dict())


def test_marker_tracks_are_seeded_and_follow_the_augmentation():
    ev = [[4800 * k for k in range(1, 9)] for _ in range(64)]
    st = [[1.0] * 8 for _ in range(64)]
    offs = np.zeros(64, int)
    a, given = event_tracks(5, 1234, ev, st, offs, 400, MarkerAugment())
    b, _ = event_tracks(5, 1234, ev, st, offs, 400, MarkerAugment())
    assert torch.equal(a, b) and a.shape == (64, 400, 2)
    assert not torch.equal(a, event_tracks(6, 1234, ev, st, offs, 400, MarkerAugment())[0])
    # rows without markers are all zero; about 30 % of them
    assert 0.1 < 1 - given.mean() < 0.5
    assert not a[~given].any() and a[given, :, 1].sum(1).min() >= 20
    # no augmentation: a pulse peak on each event's analysis frame (sample / hop - 1/2)
    exact, g = event_tracks(5, 1234, ev, st, offs, 400, MarkerAugment(0, 0, 0, 0, 0))
    assert g.all()
    # an event at 4800 k samples is frame 10 k - 1/2: frames 10 k - 1 and 10 k share the top
    top = (exact[0, :, 0] > 0.88).nonzero().flatten().tolist()
    assert top == [f for k in range(1, 9) for f in (10 * k - 1, 10 * k)]
    # crop offsets move the events: 40 latent frames later start -> pulses 40 frames earlier
    moved, _ = event_tracks(5, 1234, ev, st, np.full(64, 40), 400, MarkerAugment(0, 0, 0, 0, 0))
    torch.testing.assert_close(moved[0, :300, 0], exact[0, 40:340, 0])
    # jitter is a few ms: the pulse centres move by under a frame or two
    jit, _ = event_tracks(5, 1234, ev, st, offs, 400, MarkerAugment(0, 4.0, 0, 0, 0))
    cen = [(jit[0, f - 4:f + 5, 0] * torch.arange(f - 4, f + 5)).sum() / jit[0, f - 4:f + 5, 0].sum()
           for f in range(10, 81, 10)]
    err = np.array([float(c) - (f - 0.5) for c, f in zip(cen, range(10, 81, 10))])
    assert np.abs(err).max() < 1.5 and np.abs(err).max() > 0
    # a drop share per row (--extra-marker-drop): the last rows always get markers, the others
    # keep the draws they had (same generator, same number of draws)
    per_row = np.array([0.3] * 48 + [0.0] * 16)
    c, gc = event_tracks(5, 1234, ev, st, offs, 400, MarkerAugment(), per_row)
    assert gc[48:].all() and (gc[:48] == given[:48]).all()
    assert torch.equal(c[:48], a[:48])


def test_strengths_follow_the_event_loudness():
    audio = np.zeros(codec.SR * 2, np.float32)
    rng = np.random.default_rng(0)
    for at, gain in ((4800, 1.0), (48000, 0.1)):          # the second 20 dB down
        audio[at:at + 2400] = rng.standard_normal(2400) * gain
    s = event_strengths(codec.encode(audio), [4800, 48000])
    assert s[0] == 1.0 and s[1] == pytest.approx(1 - 20 / 30, abs=0.05)
    assert event_strengths(codec.encode(audio), []) == []


def _set(folder: Path, n: int = 8):
    from foley_desktop.train.text import MAX_TOKENS, UNCOND_CAPTIONS
    rng = np.random.default_rng(0)
    folder.mkdir()
    np.save(folder / "latents.npy", rng.standard_normal((n, 64, 32)).astype(np.float16))
    np.save(folder / "frames.npy", rng.integers(0, 256, (n, 8, 16, 16, 3), dtype=np.uint8))
    (folder / "meta.json").write_text(json.dumps(
        {"clips": [{"caption": "c", "cls": "x", "events": [480 * (i + 3)]} for i in range(n)]}))
    caps = sorted({"c"} | set(UNCOND_CAPTIONS))
    np.savez(folder / "text.npz", caps=np.array(caps), mask=np.ones((len(caps), MAX_TOKENS), np.uint8),
             feats=rng.standard_normal((len(caps), MAX_TOKENS, 24)).astype(np.float16))
    return folder


def test_strengths_leave_the_batches_as_they_were(tmp_path):
    d = _set(tmp_path / "a")
    plain, marked = Sources([d], tmp_path, 0.5), Sources([d], tmp_path, 0.5)
    marked.with_strengths()
    ref, ev_a, off_a = plain.draw(3, 9, 4, 16)
    got, ev_b, off_b = marked.draw(3, 9, 4, 16)
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(np.asarray(r), np.asarray(g))
    assert ev_a == ev_b and (off_a == off_b).all()
    assert [len(s) for s in marked.last_strengths] == [len(e) for e in ev_b]


def test_export_and_recover_a_model_with_the_event_input(tmp_path):
    pytest.importorskip("onnx")
    import onnxruntime as ort

    from foley_desktop.train.export import denoiser_inputs, export_trained_graphs
    from foley_desktop.train.recover import check, recover

    torch.set_num_threads(1)
    torch.manual_seed(3)
    cfg = Config(event_channels=2)
    model = FoleyTiny(cfg)
    # as after training: no two weights alike (the exporter shares identical initializers,
    # e.g. untrained LayerNorm ones, which recover.py cannot tell apart) and a live event path
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    model.eval()
    export_trained_graphs(model, cfg, tmp_path / "visual_encoder.fp32.onnx",
                          tmp_path / "denoiser.fp32.onnx")
    np.save(tmp_path / "uncond_visual.npy", model.uncond_visual.detach().numpy())
    names = [i.name for i in ort.InferenceSession(str(tmp_path / "denoiser.fp32.onnx")).get_inputs()]
    assert names[-1] == EVENTS_INPUT and list(denoiser_inputs(cfg)) == names
    back = recover(tmp_path)
    assert back.cfg.event_channels == 2
    for k, v in model.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v)
    c = check(back, tmp_path)
    assert c["denoiser_max_abs"] < 1e-3 * max(1.0, c["denoiser_rms"])


def test_mismatched_pictures_only_on_rows_with_markers():
    from foley_desktop.train.train import mismatch_pictures
    vis = torch.arange(8.0)[:, None, None].expand(8, 3, 2).clone()
    given = np.array([True, True, False, True, True, False, True, True])
    out = mismatch_pictures(vis, given, 4, 1234, 1.0)
    moved = [r for r in range(8) if not torch.equal(out[r], vis[r])]
    assert moved == [r for r in range(8) if given[r]]
    assert all(torch.equal(out[r], vis[(r + 1) % 8]) for r in moved)
    assert torch.equal(mismatch_pictures(vis, given, 4, 1234, 0.0), vis)
    half = mismatch_pictures(vis, np.ones(8, bool), 4, 1234, 0.5)
    assert torch.equal(half, mismatch_pictures(vis, np.ones(8, bool), 4, 1234, 0.5))


def test_dropped_pictures_only_on_rows_with_markers():
    from foley_desktop.train.train import drop_pictures
    vis = torch.arange(8.0)[:, None, None].expand(8, 3, 2).clone()
    unc = torch.full((2,), -1.0)
    given = np.array([True, True, False, True, True, False, True, True])
    out = drop_pictures(vis, unc, given, 4, 1234, 1.0)
    for r in range(8):
        assert torch.equal(out[r], unc.expand(3, 2) if given[r] else vis[r])
    assert torch.equal(drop_pictures(vis, unc, given, 4, 1234, 0.0), vis)
    half = drop_pictures(vis, unc, np.ones(8, bool), 4, 1234, 0.5)
    assert torch.equal(half, drop_pictures(vis, unc, np.ones(8, bool), 4, 1234, 0.5))
    assert 0 < sum(torch.equal(half[r], unc.expand(3, 2)) for r in range(8)) < 8
