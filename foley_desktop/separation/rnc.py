"""Unpacker for Rob Northen Computing ProPack method 1 ("RNC\\x01"), stdlib only.

Beneath a Steel Sky stores most files of `sky.dsk` packed this way (corpus.py reads its
speech). Written here from the public description of the format (ScummVM's
engines/sky/rnc_deco.cpp describes it); no code of it was copied.

The format, as used here:

* an 18-byte header: b"RNC\\x01", big-endian uint32 unpacked size, uint32 packed size,
  uint16 CRC of the unpacked data, uint16 CRC of the packed data (the bytes that follow
  the header), a "leeway" byte (for in-place unpacking; unused here) and the chunk count;
* the CRC is CRC-16 with the reflected polynomial 0xA001 and initial value 0 (CRC-16/ARC);
* the packed data is a bit stream read least-significant bit first out of little-endian
  16-bit words, with literal bytes stored in between: a word is taken from the input only
  when the reader has run out of bits, and a literal run is copied from wherever the input
  stands at that moment;
* two flag bits (lock, key) come first; then each chunk has three Huffman tables (literal run
  lengths, match distances, match lengths), a 16-bit step count, and that many steps: a
  literal run (possibly empty) followed, except in the chunk's last step, by a match that
  copies `length + 2` bytes from `distance + 1` bytes back;
* a table is a 5-bit symbol count and a 4-bit code length per symbol (0 = unused); codes are
  canonical (shortest first, then by symbol), sent most significant bit first; symbol s
  stands for the value s when s < 2, else for 2**(s-1) plus the next s-1 bits.

It is pure Python: a few MB/s, fine for the one-off extraction of the corpus.
"""

from __future__ import annotations

import struct

from foley_desktop.errors import MediaError

SIGNATURE = b"RNC\x01"
HEADER_LEN = 18


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC = _crc_table()


def crc16(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-16/ARC of `data` (continuing from `crc`)."""
    t = _CRC
    for b in bytes(data):
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def header(data: bytes) -> tuple[int, int, int, int, int]:
    """(unpacked size, packed size, unpacked CRC, packed CRC, chunks) of an RNC method 1
    stream; MediaError when `data` does not start with one."""
    if len(data) < HEADER_LEN or data[:4] != SIGNATURE:
        raise MediaError("not an RNC ProPack method 1 stream")
    unpacked, packed, crc_u, crc_p = struct.unpack(">IIHH", data[4:16])
    return unpacked, packed, crc_u, crc_p, data[17]


def is_packed(data: bytes) -> bool:
    return data[:4] == SIGNATURE


def unpack(data: bytes) -> bytes:
    """The unpacked bytes of an RNC method 1 stream. Both CRCs and the unpacked size are
    checked; any mismatch, truncation or malformed code is a MediaError."""
    size, psize, crc_u, crc_p, chunks = header(data)
    body = bytes(data[HEADER_LEN:HEADER_LEN + psize])
    if len(body) != psize:
        raise MediaError(f"RNC stream truncated ({len(body)} of {psize} packed bytes)")
    if crc16(body) != crc_p:
        raise MediaError("RNC packed-data CRC mismatch")
    out = _Decoder(body).run(chunks, size)
    if len(out) != size:
        raise MediaError(f"RNC stream unpacked to {len(out)} bytes, header says {size}")
    if crc16(out) != crc_u:
        raise MediaError("RNC unpacked-data CRC mismatch")
    return bytes(out)


class _Decoder:
    """Bit reader over `src` (words loaded only when needed) and the unpacking loop."""

    def __init__(self, src: bytes) -> None:
        self.src = src + b"\0\0\0\0"  # peeking may look a word or two past the end
        self.end = len(src)
        self.pos = 0  # next input byte
        self.buf = 0  # bits not yet consumed, next bit lowest
        self.cnt = 0  # how many

    def bits(self, n: int) -> int:
        src = self.src
        while self.cnt < n:
            if self.pos >= self.end:
                raise MediaError("RNC stream ends inside its bit stream")
            self.buf |= (src[self.pos] | src[self.pos + 1] << 8) << self.cnt
            self.pos += 2
            self.cnt += 16
        v = self.buf & ((1 << n) - 1)
        self.buf >>= n
        self.cnt -= n
        return v

    def peek(self, n: int) -> int:
        """The next n bits without consuming them (nor loading words for good)."""
        v, c, p, src = self.buf, self.cnt, self.pos, self.src
        while c < n:
            v |= (src[p] | src[p + 1] << 8) << c if p + 1 < len(src) else 0
            p += 2
            c += 16
        return v & ((1 << n) - 1)

    def table(self) -> tuple[list[tuple[int, int]], int]:
        """A Huffman table as a lookup on the next `width` bits: (symbol, code length)."""
        count = self.bits(5)
        lengths = [self.bits(4) for _ in range(count)]
        width = max(lengths, default=0)
        if width == 0:
            return [], 0
        lut: list[tuple[int, int]] = [(-1, 0)] * (1 << width)
        code = 0  # canonical code, left-aligned to 16 bits
        for length in range(1, 17):
            for sym, ln in enumerate(lengths):
                if ln != length:
                    continue
                c = code >> (16 - length)
                rev = int(format(c, f"0{length}b")[::-1], 2)  # first bit sent = lowest
                for j in range(1 << (width - length)):
                    lut[rev | (j << length)] = (sym, length)
                code += 1 << (16 - length)
        if code > 1 << 16:
            raise MediaError("RNC Huffman table is over-subscribed")
        return lut, width

    def value(self, tab: tuple[list[tuple[int, int]], int]) -> int:
        lut, width = tab
        if not width:
            raise MediaError("RNC stream uses an empty Huffman table")
        sym, length = lut[self.peek(width)]
        if sym < 0:
            raise MediaError("RNC stream has an undefined Huffman code")
        self.bits(length)
        if sym < 2:
            return sym
        return (1 << (sym - 1)) | self.bits(sym - 1)

    def run(self, chunks: int, size: int) -> bytearray:
        out = bytearray()
        self.bits(2)  # lock and key flags: neither changes how this data unpacks
        for _ in range(chunks):
            raw, dist, lens = self.table(), self.table(), self.table()
            steps = self.bits(16)
            for step in range(steps):
                n = self.value(raw)
                if n:
                    if self.pos + n > self.end:
                        raise MediaError("RNC literal run past the end of the stream")
                    out += self.src[self.pos:self.pos + n]
                    self.pos += n
                if step == steps - 1:
                    break
                d = self.value(dist) + 1
                n = self.value(lens) + 2
                if d > len(out):
                    raise MediaError("RNC match reaches before the start of the output")
                if d >= n:
                    start = len(out) - d
                    out += out[start:start + n]
                else:  # overlapping copy: the last d bytes repeat
                    tail = out[-d:]
                    out += (tail * (n // d + 1))[:n]
                if len(out) > size:
                    raise MediaError("RNC stream unpacks past its stated size")
        return out
