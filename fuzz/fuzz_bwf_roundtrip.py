"""Fuzz the BWF writer against independent readers (soundfile, wavinfo).

The project has no WAV chunk reader of its own (it reads audio through FFmpeg), so the fuzzer
drives the writer with arbitrary audio (NaN, inf and huge values included), channel counts,
lengths and metadata text, and checks that soundfile and wavinfo read back what was meant.

    python fuzz/fuzz_bwf_roundtrip.py -max_total_time=20 fuzz/corpus/bwf
"""

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import numpy as np
    import soundfile as sf
    import wavinfo

    from foley_desktop.export.bwf import Bext, IXml, write_bwf

OUT = Path(tempfile.mkdtemp(prefix="fuzz-bwf-")) / "f.wav"


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    channels = fdp.ConsumeIntInRange(1, 8)
    subtype = fdp.PickValueInList(["PCM_24", "FLOAT"])
    tref = fdp.ConsumeIntInRange(0, 48000 * 86400)
    desc = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 300))
    note = "".join(c for c in fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 100))
                   if c.isprintable())  # XML 1.0 cannot hold control characters
    n = fdp.ConsumeIntInRange(1, 2000)
    raw = fdp.ConsumeBytes(4 * channels * n)
    n = len(raw) // (4 * channels)
    if n == 0:
        return
    audio = np.frombuffer(raw[: 4 * channels * n], "<f4").reshape(channels, n)
    write_bwf(OUT, audio, subtype=subtype, bext=Bext(description=desc, time_reference=tref),
              ixml=IXml(project="fuzz", note=note, time_reference=tref))
    back, sr = sf.read(str(OUT), always_2d=True, dtype="float32")
    assert sr == 48000 and back.shape == (n, channels)
    finite = np.isfinite(audio)
    if subtype == "FLOAT":
        assert np.array_equal(back.T[finite], audio[finite])
    else:
        want = np.clip(np.nan_to_num(audio, nan=0.0), -1, 1)
        assert np.all(np.abs(back.T - want)[finite] <= 1.5 / 8388608)
    info = wavinfo.WavInfoReader(str(OUT))
    assert info.fmt.channel_count == channels and info.data.frame_count == n
    assert info.bext.time_reference == tref
    # ASCII in a NUL-padded 256-byte field: a NUL in the text ends it for every reader.
    assert info.bext.description == desc.encode("ascii", "replace").decode()[:256].split("\0")[0]
    assert (info.ixml.raw_xml.find("./NOTE").text or "") == note


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
