"""The Drascula and Beneath a Steel Sky sources of the Debian speech corpus (issue #29), and
the RNC ProPack unpacker that reads Beneath a Steel Sky's sky.dsk.

The unit tests build their files by hand. The tests on the real packages run only where
`scripts/fetch_speech_corpus.py` has unpacked them (under FOLEY_SPEECH_DIR or
~/.cache/foley-desktop/speech); nothing here downloads anything.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from foley_desktop.errors import MediaError
from foley_desktop.separation import corpus, rnc

NEW_PACKAGES = ("drascula", "drascula-spanish", "drascula-italian", "beneath-a-steel-sky")


# -- a small RNC method 1 writer, for the tests only --------------------------------------
class _Writer:
    """Bits go least-significant first into little-endian 16-bit words; a word is reserved
    at the end of the output when the previous one is full, literal bytes are appended
    where the output stands: the layout the unpacker reads."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.word = -1  # index of the word being filled
        self.used = 16

    def bits(self, value: int, n: int) -> None:
        for i in range(n):
            if self.used == 16:
                self.word = len(self.out)
                self.out += b"\0\0"
                self.used = 0
            if value >> i & 1:
                at = self.word + self.used // 8
                self.out[at] |= 1 << (self.used % 8)
            self.used += 1

    def literals(self, data: bytes) -> None:
        self.out += data


def _codes(lengths: list[int]) -> dict[int, tuple[int, int]]:
    """Canonical codes: shorter first, then by symbol; symbol -> (code, length)."""
    codes, code, prev = {}, 0, 0
    for ln, sym in sorted((ln, s) for s, ln in enumerate(lengths) if ln):
        code <<= ln - prev
        codes[sym] = (code, ln)
        code += 1
        prev = ln
    return codes


def _table(w: _Writer, lengths: list[int]) -> dict[int, tuple[int, int]]:
    w.bits(len(lengths), 5)
    for ln in lengths:
        w.bits(ln, 4)
    return _codes(lengths)


def _value(w: _Writer, codes: dict[int, tuple[int, int]], v: int) -> None:
    sym = v if v < 2 else v.bit_length()
    code, ln = codes[sym]
    for i in reversed(range(ln)):  # most significant bit of the code first
        w.bits(code >> i & 1, 1)
    if sym >= 2:
        w.bits(v - (1 << (sym - 1)), sym - 1)


def _pack(chunks: list[list[tuple[bytes, tuple[int, int] | None]]]) -> tuple[bytes, bytes]:
    """(RNC stream, what it unpacks to) for chunks of steps (literals, (distance, length))."""
    w = _Writer()
    w.bits(0, 2)
    plain = bytearray()
    flat = [4] * 16  # sixteen 4-bit codes: code = symbol
    for steps in chunks:
        raw, dist, lens = _table(w, flat), _table(w, flat), _table(w, flat)
        w.bits(len(steps), 16)
        for lit, match in steps:
            _value(w, raw, len(lit))
            w.literals(lit)
            plain += lit
            if match is not None:
                d, n = match
                _value(w, dist, d - 1)
                _value(w, lens, n - 2)
                for _ in range(n):
                    plain.append(plain[-d])
    return _wrap(bytes(w.out), bytes(plain), len(chunks)), bytes(plain)


def _wrap(packed: bytes, plain: bytes, chunks: int) -> bytes:
    return (rnc.SIGNATURE + struct.pack(">IIHH", len(plain), len(packed), rnc.crc16(plain),
                                        rnc.crc16(packed)) + bytes([0, chunks]) + packed)


# -- RNC ------------------------------------------------------------------------------------
def test_crc16_is_crc16_arc():
    assert rnc.crc16(b"123456789") == 0xBB3D  # the published check value of CRC-16/ARC
    assert rnc.crc16(b"") == 0
    assert rnc.crc16(b"6789", rnc.crc16(b"12345")) == 0xBB3D


def test_unpack_stored_literals_only_stream_built_by_hand():
    # Flag bits 00; literal table: 4 symbols, lengths 0,0,0,1 (symbol 3 = values 4..7, code
    # "0"); empty distance and length tables; 1 step; code 0 then 2 extra bits = 1 -> 5
    # literals. Bit 4 (symbol count 4), bit 19 (length 1 of symbol 3), bit 33 (1 step) and
    # bit 50 (extra bits 01) are set: four 16-bit words, then the literals.
    packed = bytes.fromhex("1000 0800 0200 0400") + b"HELLO"
    stream = _wrap(packed, b"HELLO", 1)
    assert rnc.header(stream) == (5, 13, rnc.crc16(b"HELLO"), rnc.crc16(packed), 1)
    assert rnc.unpack(stream) == b"HELLO"
    # the test writer lays the same stream out byte for byte
    w = _Writer()
    w.bits(0, 2)
    codes = _table(w, [0, 0, 0, 1])
    w.bits(0, 5)
    w.bits(0, 5)
    w.bits(1, 16)
    _value(w, codes, 5)
    w.literals(b"HELLO")
    assert bytes(w.out) == packed


def test_unpack_matches_overlaps_and_chunks():
    text = bytes(range(40, 120))
    stream, plain = _pack([
        [(b"ab", (2, 9)), (b"", (1, 3)), (b"xyz", (12, 5)), (text, None)],
        [(b"", (len(text) + 4, 20)), (b"!", None)],
    ])
    assert plain.startswith(b"ab" + b"ababababa" + b"aaa" + b"xyz")
    assert rnc.unpack(stream) == plain


def test_unpack_rejects_damaged_streams():
    stream, _ = _pack([[(b"hello world", (6, 4)), (b".", None)]])
    with pytest.raises(MediaError, match="not an RNC"):
        rnc.unpack(b"RNC\x02" + stream[4:])
    bad = bytearray(stream)
    bad[rnc.HEADER_LEN + 3] ^= 0x40  # one packed bit flipped
    with pytest.raises(MediaError, match="packed-data CRC"):
        rnc.unpack(bytes(bad))
    with pytest.raises(MediaError, match="truncated"):
        rnc.unpack(stream[:-2])
    bad = bytearray(stream)
    bad[12:14] = struct.pack(">H", rnc.crc16(b"something else"))  # unpacked CRC wrong
    with pytest.raises(MediaError, match="unpacked-data CRC"):
        rnc.unpack(bytes(bad))
    bad = bytearray(stream)
    bad[4:8] = struct.pack(">I", 99)  # size wrong
    with pytest.raises(MediaError, match="unpacked to 16 bytes, header says 99"):
        rnc.unpack(bytes(bad))


# -- the corpus reader on files built by hand ----------------------------------------------
def _sky_file(pcm: bytes, packed: bool) -> bytes:
    total = len(pcm) + corpus.SKY_HEADER
    flag = (total >> 16) << 8 | (0x80 if packed else 0)
    head = struct.pack("<11H", flag, 0, 0, 0, 0, 0, total & 0xFFFF, 0, 0, 0, 0)
    if not packed:
        return head + pcm
    stream, plain = _pack([[(pcm[:50], (50, len(pcm) - 50)), (b"", None)]])
    assert plain == pcm
    return head + stream


def _fake_root(tmp_path):
    root = tmp_path / "root"
    for k, lang in enumerate(("en", "it")):
        d = root / corpus.DRASCULA / lang
        d.mkdir(parents=True)
        for i, name in enumerate(("1", "12", "BJ3", "VB10", "S4", "T7")):
            (d / f"{name}.ALS").write_bytes(bytes([128, 192, 64, 128]) * 50 + bytes([100 + i, 100 + k]))
        (d / "1.ALD").write_bytes(b"not speech")
    # the Italian dub reuses English recordings: listed once, in English
    (root / corpus.DRASCULA / "it/T7.ALS").write_bytes(
        (root / corpus.DRASCULA / "en/T7.ALS").read_bytes() + b"\0fact\x04\0\0\0FILT")
    sky = root / corpus.SKY_DIR
    sky.mkdir(parents=True)
    tone = bytes(np.round(128 + 60 * np.sin(np.arange(50) / 3)).astype(np.uint8))
    files = [(50001, _sky_file(tone * 4, True)), (52500, _sky_file(tone * 2, False)),
             (60203, _sky_file(b"\x80" * 30, False)), (12, b"x" * 40)]
    dsk, dnr = bytearray(), struct.pack("<I", len(files))
    for num, data in files:
        while len(dsk) % 16:
            dsk.append(0)
        word = len(data) | (1 << 23 if num == 52500 else 0)  # 52500 stored unpacked
        dnr += struct.pack("<H", num) + (len(dsk) >> 4 | 1 << 23).to_bytes(3, "little")
        dnr += word.to_bytes(3, "little")
        dsk += data
    (sky / "sky.dsk").write_bytes(bytes(dsk))
    (sky / "sky.dnr").write_bytes(dnr)
    return root, tone


def test_lists_and_loads_drascula_and_sky(tmp_path):
    root, tone = _fake_root(tmp_path)
    utts = {u.uid: u for u in corpus.list_utterances(root)}
    assert sorted(utts) == sorted(
        [f"{pkg}:{lang}/{n}" for lang, pkg in (("en", "drascula"), ("it", "drascula-italian"))
         for n in ("1", "12", "BJ3", "VB10")]
        + ["drascula:en/T7", "beneath-a-steel-sky:50001", "beneath-a-steel-sky:52500"])
    u = utts["drascula:en/BJ3"]
    assert (u.speaker, u.rate, u.codec) == ("drascula-en-BJ", 11025, "u8")
    assert utts["drascula-italian:it/12"].speaker == "drascula-it-hero"
    x = corpus.load(u, sr=11025)
    assert len(x) == 202
    assert np.allclose(x[:4] - x[3], [0, 0.5, -0.5, 0])  # (byte - 128) / 128, DC removed
    assert len(corpus.load(u)) == pytest.approx(202 * 48000 / 11025, abs=2)
    s1, s2 = utts["beneath-a-steel-sky:50001"], utts["beneath-a-steel-sky:52500"]
    assert (s1.speaker, s2.speaker) == ("sky-section0", "sky-section3")
    for utt, reps in ((s1, 4), (s2, 2)):
        want = (np.frombuffer(tone * reps, np.uint8) - 128.0) / 128.0
        assert np.allclose(corpus.load(utt, sr=11025), want - want.mean(), atol=1e-6)
    for utt in utts.values():
        assert utt.split in ("train", "dev")


def test_als_pieces_of_wav_files_are_cut_off():
    speech = bytes(np.round(128 + 90 * np.sin(np.arange(600) / 5)).astype(np.uint8))
    speech = speech[:300] + b"factLIST" + speech[300:]  # such bytes inside the samples stay
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 11025, 11025, 1, 8)
    header = struct.pack("<I", 36 + len(speech)) + b"WAVE" + fmt + b"data" + struct.pack(
        "<I", len(speech))
    info = b"LIST" + struct.pack("<I", 48) + b"INFOISFT" + struct.pack("<I", 36) + b"Cool Edit"
    cases = [(speech, speech), (header + speech, speech), (b"RIFF" + header + speech, speech),
             (speech + b"\0fact\x04\0\0\0FILT", speech),
             (speech + b"\x80\x80" + info + b"\0\0fact\x04\0\0\0FILT", speech + b"\x80\x80"),
             (speech + b"\0\x80", speech), (speech + b"\0\x80\0", speech)]
    for data, want in cases:
        assert corpus.als_pcm(data) == want
    assert corpus.sky_pcm(_sky_file(b"\0\0" + speech + b"\xff", False)) == speech


def test_sky_damage_is_a_clear_error(tmp_path):
    root, _ = _fake_root(tmp_path)
    dnr = root / corpus.SKY_DIR / "sky.dnr"
    table = corpus.sky_table(dnr)
    assert [t[0] for t in table] == [50001, 52500, 60203, 12]
    assert table[0][1] == 0 and table[1][1] % 16 == 0
    u = next(u for u in corpus.list_utterances(root) if u.uid.endswith("50001"))
    dsk = root / corpus.SKY_DIR / "sky.dsk"
    data = bytearray(dsk.read_bytes())
    data[u.offset + corpus.SKY_HEADER + rnc.HEADER_LEN + 10] ^= 1
    dsk.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="CRC"):
        corpus.load(u)
    dnr.write_bytes(dnr.read_bytes()[:20])
    with pytest.raises(MediaError, match="truncated file table"):
        corpus.sky_table(dnr)


def test_new_packages_train_and_dev_only_dutch_stays_held_out():
    assert corpus.HELD_OUT_PACKAGES == ("fillets-ng-data-nl",)
    assert set(NEW_PACKAGES) <= set(corpus.PACKAGES)


# -- the real packages, where fetched ------------------------------------------------------
def _root_with(pkg: str):
    root = corpus.speech_root()
    if not (root / "usr/share/doc" / pkg / "copyright").is_file():
        pytest.skip(f"{pkg} not fetched under {root} (scripts/fetch_speech_corpus.py {pkg})")
    return root


@pytest.mark.parametrize("lang,pkg", sorted(corpus.DRASCULA_LANGS.items()))
def test_real_drascula(lang, pkg):
    root = _root_with(pkg)
    utts = [u for u in corpus.list_utterances(root) if u.package == pkg]
    # 783 .ALS files less the 15 sound effects (S*); less, where the English package is
    # there too, the recordings the dub shares with an earlier language (en, es, it)
    shared, speakers = {"en": (0, 11), "es": (26, 10), "it": (708, 5)}[lang]
    if lang != "en" and (root / corpus.DRASCULA / "en").is_dir():
        assert len(utts) == 768 - shared
        assert len({u.speaker for u in utts}) == speakers
    else:
        assert len(utts) == 768
    assert not any(u.uid.split("/")[1].startswith("S") for u in utts)
    assert {u.split for u in utts} <= {"train", "dev"}  # (Italian's 60 lines: no dev by chance)
    u = max(utts, key=lambda u: u.path.stat().st_size)  # the longest line
    raw = u.path.read_bytes()
    head = np.frombuffer(raw[:64], np.uint8).astype(int)
    assert np.abs(head - 128).max() <= 12  # headerless: it starts near unsigned 8-bit silence
    x = corpus.load(u, sr=11025)
    assert len(x) == len(corpus.als_pcm(raw)) >= len(raw) - 13
    assert 0.02 < float(np.sqrt(np.mean(x ** 2))) < 0.5 and np.abs(x).max() <= 1.01
    for u in utts:  # no WAV pieces left, no full-scale byte at either end
        pcm = corpus.als_pcm(u.path.read_bytes())
        ends = np.frombuffer(pcm[:16] + pcm[-16:], np.uint8)
        assert not (ends == 0).any() and not (ends == 255).any(), u.uid
        for tag in (b"WAVE", b"data", b"fact", b"LIST", b"INFO", b"Cool Edit"):
            assert tag not in pcm[:128] and tag not in pcm[-256:], (u.uid, tag)


def test_real_drascula_recordings_listed_once():
    import hashlib

    for pkg in corpus.DRASCULA_LANGS.values():
        root = _root_with(pkg)
    utts = [u for u in corpus.list_utterances(root) if u.codec == "u8"]
    pcm = [corpus.als_pcm(u.path.read_bytes()).rstrip(b"\x7f\x80") for u in utts]
    assert len({hashlib.sha1(x).digest() for x in pcm}) == len(utts) == 768 + 742 + 60
    by_name: dict[str, list[np.ndarray]] = {}
    for u, x in zip(utts, pcm):
        by_name.setdefault(u.path.name, []).append(np.frombuffer(x, np.uint8) - 128.0)
    for name, same in by_name.items():  # no near copies left under the same line name
        for i in range(1, len(same)):
            a, b = same[0], same[i]
            n = min(len(a), len(b))
            c = a[:n] @ b[:n] / (np.sqrt((a[:n] @ a[:n]) * (b[:n] @ b[:n])) + 1e-9)
            assert c < 0.5, name


def test_real_sky_speech_lines():
    root = _root_with("beneath-a-steel-sky")
    table = corpus.sky_table(root / corpus.SKY_DIR / "sky.dnr")
    assert len(table) == 5097  # the 0.0372 CD version
    utts = [u for u in corpus.list_utterances(root) if u.package == "beneath-a-steel-sky"]
    assert len(utts) == 3491
    assert {u.split for u in utts} == {"train", "dev"}
    for u in utts[::500]:
        x = corpus.load(u, sr=11025)
        assert len(x) > 2000
        assert 0.01 < float(np.sqrt(np.mean(x ** 2))) < 0.5


@pytest.mark.slow
def test_real_sky_every_speech_entry_unpacks_with_its_crcs():
    """All 3491 speech files: both RNC CRCs and the unpacked size (rnc.unpack and
    corpus.sky_pcm check them); about 30 s of pure Python."""
    root = _root_with("beneath-a-steel-sky")
    utts = [u for u in corpus.list_utterances(root) if u.package == "beneath-a-steel-sky"]
    total = 0
    with open(root / corpus.SKY_DIR / "sky.dsk", "rb") as fh:
        for u in utts:
            fh.seek(u.offset)
            data = fh.read(u.size)
            assert rnc.is_packed(data[corpus.SKY_HEADER:]), u.uid
            pcm = corpus.sky_pcm(data)
            ends = np.frombuffer(pcm[:16] + pcm[-16:], np.uint8)
            assert not (ends == 0).any() and not (ends == 255).any(), u.uid
            total += len(pcm)
    assert 1.8 < total / 11025 / 3600 < 2.0  # about 1.93 h


def test_dev_selection_set_is_dev_lines_only_and_fixed():
    """eval_separation.py --speech dev: dev-split lines of the training packages, 2-8 s,
    peak 0.5 at 48 kHz, the same draw every time, never a held-out (test-split) line."""
    from foley_desktop.separation import evaluate as ev

    _root_with("drascula")
    got = ev.dev_speech(6)
    assert len(got) == 6
    by_uid = {u.uid: u for u in corpus.list_utterances()}
    for uid, x in got:
        assert by_uid[uid].split == "dev"
        assert 2 * ev.SR <= len(x) <= 8 * ev.SR
        assert abs(float(np.abs(x).max()) - 0.5) < 1e-6
    again = ev.dev_speech(6)
    assert [u for u, _ in again] == [u for u, _ in got]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(again, got))


# -- warzone2100-data: the second held-out set (issue #29, eleventh round) -----------------
def _fake_warzone(tmp_path):
    import io
    import zipfile

    import soundfile as sf

    root = tmp_path / "root"
    wz = root / corpus.WARZONE
    wz.parent.mkdir(parents=True)
    t = np.arange(int(1.5 * 11025)) / 11025
    members = {"audio/tutorial/tut1.ogg": 440.0, "audio/memressp/missmesg/m1.ogg": 660.0,
               "audio/sfx/weapons/boom.ogg": 300.0, "audio/nexus/n1.ogg": 500.0}
    # stored, not deflated, as the game's own archive stores its Ogg files
    with zipfile.ZipFile(wz, "w", zipfile.ZIP_STORED) as z:
        for name, hz in members.items():
            buf = io.BytesIO()
            sf.write(buf, 0.4 * np.sin(2 * np.pi * hz * t), 11025, format="OGG",
                     subtype="VORBIS")
            z.writestr(name, buf.getvalue())
    return root, wz


def test_warzone_voice_lines_are_listed_for_evaluation_only(tmp_path):
    root, _ = _fake_warzone(tmp_path)
    utts = {u.uid: u for u in corpus.list_utterances(root)}
    # only the folders of spoken sentences: not the effects, not the processed robot voice
    assert sorted(utts) == ["warzone2100-data:audio/memressp/missmesg/m1.ogg",
                            "warzone2100-data:audio/tutorial/tut1.ogg"]
    u = utts["warzone2100-data:audio/tutorial/tut1.ogg"]
    assert (u.speaker, u.rate, u.codec, u.split) == ("warzone-tutorial", 11025, "zip", "eval")
    assert utts["warzone2100-data:audio/memressp/missmesg/m1.ogg"].speaker == "warzone-memressp"
    x = corpus.load(u)
    assert len(x) == pytest.approx(1.5 * 48000, abs=0.02 * 48000)
    spec = np.abs(np.fft.rfft(x))
    assert np.fft.rfftfreq(len(x), 1 / 48000)[int(np.argmax(spec))] == pytest.approx(440, abs=2)


def test_warzone_damage_is_a_clear_error(tmp_path):
    root, wz = _fake_warzone(tmp_path)
    u = next(u for u in corpus.list_utterances(root) if u.uid.endswith("tut1.ogg"))
    wz.write_bytes(wz.read_bytes()[:100])
    with pytest.raises(MediaError, match="not a zip"):
        corpus.list_utterances(root)
    with pytest.raises(MediaError, match="cannot read"):
        corpus.load(u)


def test_eval_split_is_apart_from_training_and_the_dutch_held_out_lines():
    assert corpus.EVAL_ONLY_PACKAGES == ("warzone2100-data",)
    assert set(corpus.EVAL_ONLY_PACKAGES) <= set(corpus.PACKAGES)
    assert not set(corpus.EVAL_ONLY_PACKAGES) & set(corpus.HELD_OUT_PACKAGES)


def test_real_warzone_lines_drawn_for_the_second_held_out_set():
    from foley_desktop.separation import evaluate as ev

    root = _root_with("warzone2100-data")
    utts = [u for u in corpus.list_utterances(root) if u.package == "warzone2100-data"]
    assert len(utts) == 369 and {u.split for u in utts} == {"eval"}
    got = ev.warzone_speech(20)
    assert len(got) == 20 and len({uid for uid, _ in got}) == 20
    for uid, x in got:
        assert uid.startswith("warzone2100-data:audio/")
        assert 2 * ev.SR <= len(x) <= 8 * ev.SR
        assert abs(float(np.abs(x).max()) - 0.5) < 1e-6
