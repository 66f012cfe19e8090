"""Read a prompt typed in Chinese (and a few other languages) as English, or say it cannot be.

The shipped text encoders (foley-tiny's MiniLM, HunyuanVideo-Foley's CLAP) were trained on
English: a Chinese prompt reaches them as characters they never learned, and the take follows
nothing the editor asked for, silently. `read_prompt` turns such a prompt into a short English
prompt in the style of the model's captions ("在碎石路上的脚步声" -> "footsteps on a gravel
path") with a bilingual Foley vocabulary (resources/prompt_reading/vocabulary.tsv: sources,
materials, actions, surfaces, intensities; Chinese in Simplified, Traditional folded onto it by
traditional.txt; Japanese, Spanish, French and German beside it), and says when it cannot:
a prompt mostly in scripts the English encoder does not read, with no Foley words found, is
`understood=False` with a one-line note. English prompts come back exactly as typed, so they
give the same take as before.

Chinese has no spaces: the prompt is cut by longest match against the vocabulary; what is not in
it is kept aside (`ignored`). The pieces are put in English order: the head of "A的B" first when
A describes it (脚步声 after 的 -> "footsteps"), places ("在X上", X上, surfaces in a walking
prompt) after the rest as "on X" / "in X", adjectives before their noun. A multilingual sentence
encoder was measured against this (docs/prompts.md, scripts/eval_prompt_reading.py).

Numpy-free and Qt-free: the engine, the library search and the GUI call the same function.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from foley_desktop.paths import builtin_resources_dir, resources_dir

LANGUAGES = ("zh", "ja", "es", "fr", "de")           # the vocabulary's columns after english
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "ja": "Japanese", "es": "Spanish",
                  "fr": "French", "de": "German", "unknown": "an unknown language"}
# Roles that carry a sound's meaning (a reading needs one of them to count as understood).
CONTENT = {"step", "walk", "src", "act", "call", "surf", "mat", "who", "lit"}
NOUNS = {"step", "src", "mat", "surf", "who", "lit"}
# 叫/鳴く "cries out": what it sounds like in English depends on who does it.
CALLS = {"a dog": "barking", "a cat": "meowing", "a bird": "chirping", "birdsong": "",
         "a crowd": "shouting", "an audience": "shouting", "a baby": "crying",
         "a horse": "neighing", "someone": "shouting"}
ROLES = CONTENT - {"lit"} | {"mod", "on", "in", "sound", "func"}
# Share of a prompt's letters that may stay unread for it still to count as understood.
MAX_UNREAD = 0.5
# Small English word list for telling an English prompt from a Spanish/French/German one (the
# vocabulary's English column is added to it): a prompt is only translated when its foreign
# words clearly outnumber these, so English prompts are never touched.
ENGLISH_WORDS = {
    "a", "an", "the", "of", "on", "in", "into", "onto", "at", "to", "by", "with", "without",
    "from", "over", "under", "through", "across", "along", "and", "or", "but", "is", "are", "was",
    "were", "be", "being", "been", "it", "its", "this", "that", "these", "those", "some",
    "someone", "something", "somebody", "people", "person", "man", "woman", "men", "women",
    "they", "he", "she", "his", "her", "their", "very", "slowly", "quickly", "loud", "soft",
    "heavy", "light", "small", "big", "large", "distant", "close", "near", "far", "away", "up",
    "down", "off", "out", "back", "around", "sound", "sounds", "noise", "noises", "while", "as",
    "then", "after", "before", "during",
}


@dataclass(frozen=True)
class PromptReading:
    text: str                   # the prompt as typed
    text_en: str                # what an English text encoder should read (== text for English)
    language: str               # "en", "zh", "ja", "es", "fr", "de" or "unknown"
    understood: bool            # False: the encoder cannot read it and no translation found
    note: str | None = None     # one line for the user; None when there is nothing to say
    ignored: tuple[str, ...] = field(default_factory=tuple)   # parts left unread

    @property
    def translated(self) -> bool:
        return self.text_en != self.text

    def to_dict(self) -> dict:
        return {"text": self.text, "text_en": self.text_en, "language": self.language,
                "understood": self.understood, "note": self.note,
                "ignored": list(self.ignored)}


@dataclass(frozen=True)
class _Term:
    role: str
    en: str


@dataclass
class _Vocab:
    cjk: dict[str, dict[str, _Term]]      # language -> surface form -> term (zh, ja)
    words: dict[str, dict[tuple[str, ...], _Term]]   # es/fr/de: word tuple -> term
    longest: dict[str, int]
    english: set[str]
    t2s: dict[str, str]


def vocabulary_dir() -> Path:
    """The vocabulary is part of the code's data: the resources folder in use when it holds it
    (a bundle), else the one that came with the code (a test or user pointing
    FOLEY_DESKTOP_RESOURCES at a folder of models only)."""
    here = resources_dir() / "prompt_reading"
    return here if (here / "vocabulary.tsv").is_file() else \
        builtin_resources_dir() / "prompt_reading"


@lru_cache(maxsize=1)
def _vocab() -> _Vocab:
    folder = vocabulary_dir()
    cjk: dict[str, dict[str, _Term]] = {"zh": {}, "ja": {}}
    words: dict[str, dict[tuple[str, ...], _Term]] = {"es": {}, "fr": {}, "de": {}}
    english = set(ENGLISH_WORDS)
    for n, line in enumerate((folder / "vocabulary.tsv").read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 2 + len(LANGUAGES):
            raise ValueError(f"vocabulary.tsv line {n}: {len(cols)} columns, not "
                             f"{2 + len(LANGUAGES)}")
        role, en = cols[0], cols[1]
        if role not in ROLES:
            raise ValueError(f"vocabulary.tsv line {n}: unknown role {role!r}")
        term = _Term(role, "" if en == "-" else en)
        english.update(re.findall(r"[a-z]+", term.en))
        for lang, cell in zip(LANGUAGES, cols[2:]):
            for form in (f.strip().lower() for f in cell.split("|")):
                if not form or form == "-":
                    continue
                if lang in cjk:
                    # The first row that names a form keeps it: rows are ordered so that the
                    # more specific reading comes first.
                    cjk[lang].setdefault(unicodedata.normalize("NFKC", form), term)
                else:
                    words[lang].setdefault(tuple(_latin_words(form)), term)
    t2s = {}
    for line in (folder / "traditional.txt").read_text("utf-8").splitlines():
        if line.startswith("#"):
            continue
        for pair in line.split():
            t2s[pair[0]] = pair[1]
    longest = {lang: max(map(len, table)) for lang, table in cjk.items()}
    longest.update({lang: max(map(len, table)) for lang, table in words.items()})
    return _Vocab(cjk, words, longest, english, t2s)


# ----- scripts ---------------------------------------------------------------------------------

def script_of(ch: str) -> str:
    """"latin", "han", "kana", "other" (letters of any other script) or "" (not a letter)."""
    o = ord(ch)
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F:
        return "kana"
    if (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF
            or 0x20000 <= o <= 0x2FFFF or o == 0x3005):
        return "han"
    if not unicodedata.category(ch).startswith("L"):
        return ""
    if o < 0x250 or 0x1E00 <= o <= 0x1EFF:
        return "latin"
    return "other"


def foreign_share(text: str) -> float:
    """Share of the letters of `text` in scripts an English text encoder was not trained on."""
    letters = [s for s in map(script_of, text) if s]
    return sum(s != "latin" for s in letters) / len(letters) if letters else 0.0


def _latin_words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?|[^\W\d_]+'", text.lower())


# ----- reading ---------------------------------------------------------------------------------

@dataclass
class _Piece:
    role: str
    en: str
    src: str = ""


def read_prompt(text: str) -> PromptReading:
    """How an English text encoder should read `text` (see the module's doc)."""
    vocab = _vocab()
    norm = unicodedata.normalize("NFKC", text)
    scripts = {s for s in map(script_of, norm) if s}
    if scripts <= {"latin"}:
        lang = _latin_language(norm, vocab)
        if lang == "en":
            return PromptReading(text, text, "en", True)
        pieces_by_clause, ignored, letters, unread = _read_latin(norm, lang, vocab)
    elif scripts & {"han", "kana"}:
        lang = "ja" if "kana" in scripts else "zh"
        pieces_by_clause, ignored, letters, unread = _read_cjk(norm, lang, vocab)
    else:
        share = foreign_share(norm)
        if share <= MAX_UNREAD:        # an English prompt with a few foreign letters
            return PromptReading(text, text, "en", True)
        return PromptReading(text, text, "unknown", False,
                             "not understood: the text encoder reads English (and sound words "
                             "in Chinese, Japanese, Spanish, French, German), not this script")
    clauses = [_render(p) for p in pieces_by_clause]
    english = ", ".join(c for c in clauses if c)
    has_content = any(p.role in CONTENT for ps in pieces_by_clause for p in ps)
    understood = has_content and unread <= MAX_UNREAD * max(letters, 1)
    name = LANGUAGE_NAMES[lang]
    if understood:
        note = f"read as \"{english}\" ({name})"
        if ignored:
            note += " ignoring " + ", ".join(f"\"{w}\"" for w in ignored)
        return PromptReading(text, english, lang, True, note, tuple(ignored))
    if has_content:
        note = (f"not understood: only \"{english}\" could be read ({name}), not "
                + ", ".join(f"\"{w}\"" for w in ignored))
        return PromptReading(text, english, lang, False, note, tuple(ignored))
    return PromptReading(text, text, lang, False,
                         f"not understood: no sound words found in this {name} prompt",
                         tuple(ignored))


def _latin_language(text: str, vocab: _Vocab) -> str:
    words = _latin_words(text)
    en = sum(w in vocab.english for w in words)
    best, score = "en", 0
    for lang, table in vocab.words.items():
        known = {w for key in table for w in key}
        small = {w for key, t in table.items() if t.role not in CONTENT for w in key}
        content = {w for key, t in table.items() if t.role in CONTENT for w in key} - small
        s = sum(w in known and w not in vocab.english for w in words)
        if s > score and any(w in content and w not in vocab.english for w in words):
            best, score = lang, s
    # Only clearly foreign prompts with a sound word in them are translated: English (and
    # anything else in Latin letters) stays exactly as typed.
    return best if score >= 2 and score > en else "en"


# (clauses of placed pieces, words not read, letters read, letters not read)
_Reading = tuple[list[list["_Piece"]], list[str], int, int]

_LATIN_RUN = re.compile(r"[A-Za-z\u00C0-\u024F\u1E00-\u1EFF]+(?:[\s'-]+[A-Za-z\u00C0-\u024F\u1E00-\u1EFF]+)*")
_CLAUSE = re.compile(r"[,;:.!?，、；：。！？\n]+")


def _read_latin(text: str, lang: str, vocab: _Vocab) -> _Reading:
    table, longest = vocab.words[lang], vocab.longest[lang]
    clauses, ignored, letters, unread = [], [], 0, 0
    for clause in _CLAUSE.split(text):
        words = _latin_words(clause)
        pieces, i = [], 0
        while i < len(words):
            for n in range(min(longest, len(words) - i), 0, -1):
                term = table.get(tuple(words[i:i + n]))
                if term is not None:
                    pieces.append(_Piece(term.role, term.en, " ".join(words[i:i + n])))
                    i += n
                    break
            else:
                w = words[i]
                letters += len(w)
                if w in vocab.english:           # an English word among the foreign ones
                    pieces.append(_Piece("lit", w, w))
                else:
                    ignored.append(w)
                    unread += len(w)
                i += 1
                continue
            letters += len(pieces[-1].src.replace(" ", ""))
        if lang in ("es", "fr"):        # adjectives after their noun: put them before it
            for k in range(1, len(pieces)):
                if pieces[k].role == "mod" and pieces[k - 1].role in NOUNS:
                    pieces[k - 1], pieces[k] = pieces[k], pieces[k - 1]
        clauses.append(_latin_places(pieces))
    return clauses, ignored, letters, unread


def _latin_places(pieces: list[_Piece]) -> list[_Piece]:
    """A preposition (sobre, sur, auf …) makes the noun after it a place."""
    out, prep = [], None
    for p in pieces:
        if p.role in ("on", "in"):
            prep = p.role
            continue
        if prep and p.role in NOUNS:
            out.append(_Piece("place", f"{prep} {p.en}", p.src))
            prep = None
            continue
        if p.role not in ("mod", "func", "sound"):
            prep = None
        out.append(p)
    return out


def _read_cjk(text: str, lang: str, vocab: _Vocab) -> _Reading:
    text = "".join(vocab.t2s.get(c, c) for c in text.lower()) if lang == "zh" else text.lower()
    # Japanese prompts also use Chinese words written in kanji (玻璃, 木门): its own table first.
    tables = [vocab.cjk[lang]] + ([vocab.cjk["zh"]] if lang == "ja" else [])
    longest = max(vocab.longest[k] for k in ("zh", lang))
    clauses, ignored, letters, unread = [], [], 0, 0
    for clause in _CLAUSE.split(text):
        pieces: list[_Piece] = []
        i, pending = 0, ""
        while i < len(clause):
            ch = clause[i]
            sc = script_of(ch)
            if sc == "latin":                    # English inside a Chinese prompt: kept
                m = _LATIN_RUN.match(clause, i)
                word = m.group(0) if m else ch
                if pending:
                    ignored.append(pending)
                    pending = ""
                if any(script_of(c) == "latin" for c in word):
                    pieces.append(_Piece("lit", " ".join(word.split()), word))
                i += len(word)
                continue
            if not sc:
                i += 1
                continue
            hit = None
            for n in range(min(longest, len(clause) - i), 0, -1):
                form = clause[i:i + n]
                for table in tables:
                    if form in table:
                        hit = (form, table[form])
                        break
                if hit:
                    break
            if hit is None:
                letters += 1
                unread += sc != "latin"
                pending += ch
                i += 1
                continue
            if pending:
                ignored.append(pending)
                pending = ""
            form, term = hit
            letters += sum(bool(script_of(c)) for c in form)
            pieces.append(_Piece(term.role, term.en, form))
            i += len(form)
        if pending:
            ignored.append(pending)
        clauses.append(_cjk_order(pieces, lang))
    return clauses, ignored, letters, unread


def _cjk_order(pieces: list[_Piece], lang: str) -> list[_Piece]:
    """Chinese/Japanese order -> English order: places after a noun (X上, X里; のX上) become
    "on X" / "in X" after the rest, and a described head noun ("…的脚步声", "…歩く足音") leads."""
    out: list[_Piece] = []
    for p in pieces:
        if p.role in ("on", "in"):
            # The noun before the postposition (mods between are its adjectives) is a place.
            j = len(out) - 1
            while j >= 0 and out[j].role in ("func",):
                j -= 1
            if j >= 0 and out[j].role in NOUNS:
                out[j] = _Piece("place", f"{p.role} {out[j].en}", out[j].src)
            continue
        out.append(p)
    # The head: the last noun with nothing but function/sound words after it, described by
    # what comes before it ("A的B"; Japanese relative clauses end in a verb right before B).
    content = [k for k, p in enumerate(out) if p.role not in ("func", "sound")]
    if len(content) >= 2:
        h = content[-1]
        head = out[h]
        before = out[:h]
        marked = any(p.src in ("的", "の") for p in out[content[-2]:h]) or (
            lang == "ja" and out[content[-2]].role in ("act", "walk"))
        if head.role in ("step", "src", "who") and marked:
            described = [p for p in before if p.role not in ("func", "sound")]
            if any(p.role in ("src", "act", "mat", "who", "lit") for p in described):
                if head.role == "step" or not any(p.role == "src" for p in described):
                    return [head] + before + out[h + 1:]
                return [head, _Piece("func_of", "of", "")] + before + out[h + 1:]
            return ([p for p in before if p.role == "mod"] + [head]
                    + [p for p in before if p.role != "mod"] + out[h + 1:])
    return out


def _render(pieces: list[_Piece]) -> str:
    """English words of one clause: nouns and verbs in order (a mod joins the noun after it),
    then the places; walking words merge with a footstep word."""
    steps = any(p.role == "step" for p in pieces)
    walking = steps or any(p.role == "walk" for p in pieces)
    main: list[str] = []
    nouns: list[int] = []               # which of `main` are noun phrases
    places: list[str] = []
    mods: list[str] = []
    seen_walk = False
    for k, p in enumerate(pieces):
        role = p.role
        if role in ("func", "sound") or not p.en:
            continue
        if role == "walk":
            if steps or seen_walk:
                continue
            seen_walk = True
        if role == "place" or role == "surf" or (role == "mat" and walking):
            text = (_place_with_mods(p.en, mods) if role == "place"
                    else f"on {_with_mods(p.en, mods)}")
            mods = []
            if text not in places:
                places.append(text)
            continue
        text = p.en
        if role == "call":
            caller = next((q.en for q in reversed(pieces[:k])
                           if q.role in NOUNS), "")
            text = CALLS.get(caller, "calling")
            if not text:
                continue
        if role == "mod":
            mods.append(p.en)
            continue
        if role == "func_of":
            main.append("of")
            continue
        if role in NOUNS:
            text = _with_mods(text, mods)
        else:
            text = " ".join(mods + [text])
        mods = []
        if not main or main[-1] != text:
            if role in NOUNS:
                nouns.append(len(main))
            main.append(text)
    if mods and nouns:     # adjectives left at the end ("…in der Ferne"): to the first noun
        main[nouns[0]] = _with_mods(main[nouns[0]], mods)
    elif mods:
        main.append(" ".join(mods))
    out = " ".join(main + places)
    return re.sub(r"\s+", " ", out).strip()


def _with_mods(noun: str, mods: list[str]) -> str:
    if not mods:
        return noun
    art, _, rest = noun.partition(" ")
    if art in ("a", "an") and rest:
        adj = " ".join(mods)
        return f"{'an' if adj[0] in 'aeiou' else 'a'} {adj} {rest}"
    return " ".join(mods + [noun])


def _place_with_mods(place: str, mods: list[str]) -> str:
    prep, _, noun = place.partition(" ")
    return f"{prep} {_with_mods(noun, mods)}"
