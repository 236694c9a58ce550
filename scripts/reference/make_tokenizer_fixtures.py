"""Records Hugging Face's FLAN-T5 tokenization as the reference the Swift `Tokenization` module must
match exactly. Run with the reference venv:

    .venv-ref/bin/python scripts/reference/make_tokenizer_fixtures.py

Reads <repo>/assets/flan-t5-base and <repo>/assets/dialogsum, and
writes Tests/Fixtures/tokenizer/:

  dialogsum.json          ids + decode of the lab prompt for all 1000 DialogSum dev/test dialogues.
                          The dialogues stay in assets/: the fixture keeps only a hash of each
                          dialogue (so a changed data file is reported as such), its ids as base64
                          LEB128 varints (FLAN-T5 ids are frequency ordered, so most take one byte;
                          plain JSON lists would be 1.4 MB), and its decode, left out when it is
                          exactly the prompt with ASCII whitespace runs collapsed to one space
                          (checked here, per dialogue).
  hard-strings.json       hand-written edge cases: encode and decode under both pipelines, id lists
                          to decode, transformers' clean-up option, and tokenizer.json variants
                          exercising components FLAN-T5 itself does not use.
  generated-strings.json  seeded random strings over a deliberately hostile alphabet, and random
                          id lists to decode.
  tiny-tokenizers.json    two hand-built Unigram tokenizer.json files with a dozen pieces each
                          (Viterbi ties, fused unknowns, positive scores) and their outputs, so the
                          core algorithm is checked without the real tokenizer.

"transformers" below is AutoTokenizer.from_pretrained (transformers 5: T5Tokenizer on the tokenizers
backend, which rebuilds the pipeline around tokenizer.json's vocabulary); "tokenizer_json" is
tokenizers.Tokenizer.from_file, which runs tokenizer.json's components exactly as serialized.
"""
import base64
import copy
import json
import pathlib
import random
import struct

import tokenizers
import transformers
from tokenizers import Tokenizer
from transformers import AutoTokenizer

REPO = pathlib.Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "assets/flan-t5-base"
DATA_DIR = REPO / "assets/dialogsum"
OUT = REPO / "Tests/Fixtures/tokenizer"
PROMPT = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "

hf = AutoTokenizer.from_pretrained(str(MODEL_DIR))
assert type(hf).__name__ == "T5Tokenizer" and hf.is_fast, f"expected tokenizers-backed T5Tokenizer, got {type(hf)}"
assert not hf.clean_up_tokenization_spaces
raw = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
TOKENIZER_JSON = json.loads((MODEL_DIR / "tokenizer.json").read_text(encoding="utf-8"))
CHARSMAP = next(n for n in TOKENIZER_JSON["normalizer"]["normalizers"] if n["type"] == "Precompiled")["precompiled_charsmap"]

assert hf("Hello world").input_ids == [8774, 296, 1]
assert hf("Summarize the following conversation.").input_ids == [12198, 1635, 1737, 8, 826, 3634, 5, 1]

VERSIONS = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__}


def fnv1a32(text: str) -> str:
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


def varints(ids) -> str:
    out = bytearray()
    for i in ids:
        assert i >= 0
        while True:
            byte = i & 0x7F
            i >>= 7
            out.append(byte | (0x80 if i else 0))
            if not i:
                break
    return base64.b64encode(bytes(out)).decode("ascii")


def collapse_ascii_whitespace(text: str) -> str:
    return " ".join(w for w in text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
                    .replace("\x0b", " ").replace("\x0c", " ").split(" ") if w)


def hf_encode(text):
    return hf(text).input_ids


def hf_decode(ids, skip=True, **kw):
    return hf.decode(ids, skip_special_tokens=skip, **kw)


def raw_encode(text):
    return raw.encode(text).ids


def raw_decode(ids, skip=True):
    return raw.decode(ids, skip_special_tokens=skip)


def write(name, payload):
    path = OUT / name
    path.write_text(json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size // 1024} KB)")


def dialogsum():
    rows = []
    for split in ("dev", "test"):
        with open(DATA_DIR / f"dialogsum.{split}.jsonl", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                prompt = PROMPT.format(dialogue=d["dialogue"])
                ids = hf_encode(prompt)
                decoded = hf_decode(ids)
                row = {"fname": d["fname"], "fnv1a32": fnv1a32(d["dialogue"]), "ids": varints(ids)}
                if decoded != collapse_ascii_whitespace(prompt):
                    row["decoded"] = decoded
                rows.append(row)
    assert len(rows) == 1000, len(rows)
    write("dialogsum.json", {
        "reference": VERSIONS,
        "prompt": PROMPT,
        "ids_encoding": "base64 of LEB128 varints (7 bits per byte, low bits first, high bit set on all but the last byte)",
        "fnv1a32": "FNV-1a 32-bit hash of the dialogue's UTF-8, to tell a changed data file from a tokenizer bug",
        "decoded_absent_means": "decode(ids, skip_special_tokens=True) equals the prompt with runs of ASCII whitespace collapsed to one space and trimmed",
        "dialogues": rows,
    })


HARD_STRINGS = {
    # Sanity
    "hello": "Hello world",
    "lab prompt head": "Summarize the following conversation.",
    "dialogue lines": "#Person1#: Hello, how are you?\n#Person2#: I ' m fine. Don ' t worry!\n\nSummary: ",
    # Compatibility mappings
    "ligatures": "\ufb01nance \ufb02ow \ufb00 \ufb03x \ufb06",
    "ligature plus accent": "\ufb01\u0301",
    "full width": "\uff21\uff22\uff23\uff11\uff12\uff13",
    "full width words and ideographic space": "\uff48\uff45\uff4c\uff4c\uff4f\u3000\uff57\uff4f\uff52\uff4c\uff44",
    "math letters": "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522",
    "superscripts and fractions": "x\u00b2 + H\u2082O = \u00bd \u00bc \u2153",
    "symbols": "\u2122 \u2103 \u338f \u2116 \u2160\u2161\u216b",
    "ellipsis and dashes": "wait\u2026 \u2014 \u2013 - \u2012",
    "quotes": "\u201cquoted\u201d \u2018single\u2019 \u00abguillemets\u00bb",
    "currencies": "\u20ac5 \u00a33 \u00a5100 \u20b9 $",
    "angstrom and ohm signs": "\u212b \u2126 \u00c5 \u03a9",
    # Zero-width and format characters
    "zero width space": "a\u200bb",
    "zero width joiner": "a\u200db",
    "zero width non-joiner and word joiner": "zero\u200cwidth\u2060join",
    "byte order mark": "\ufeffhello",
    "soft hyphen": "co\u00adoperate",
    # Emoji
    "emoji": "I \u2764\ufe0f NY \U0001f600",
    "emoji zwj family": "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "emoji skin tone": "\U0001f44d\U0001f3fd thumbs",
    "flags": "\U0001f1ef\U0001f1f5\U0001f1fa\U0001f1f8",
    "keycap": "#\ufe0f\u20e3 1\ufe0f\u20e3",
    "unknown emoji run": "\U0001f984\U0001f984\U0001f984 unicorns",
    # Scripts
    "chinese": "\u4f60\u597d\uff0c\u4e16\u754c\uff01",
    "japanese": "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3002\uff76\uff80\uff76\uff85",
    "korean": "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "hangul jamo": "\u1100\u1161\u11a8 \u1112\u1161\u11ab",
    "arabic": "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "arabic with harakat": "\u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627",
    "arabic presentation forms": "\ufefb \ufdf2",
    "hebrew": "\u05e9\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd",
    "devanagari": "\u0928\u092e\u0938\u094d\u0924\u0947 \u0915\u094d\u0937\u0924\u094d\u0930\u093f\u092f",
    "thai": "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a",
    "ethiopic": "\u1230\u120b\u121d",
    "greek": "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1",
    "cyrillic": "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440",
    "vietnamese": "Ti\u1ebfng Vi\u1ec7t",
    "turkish and german": "\u0130stanbul \u0131 Stra\u00dfe \u01c5",
    # Combining marks
    "accent NFC": "caf\u00e9 na\u00efve",
    "accent NFD": "cafe\u0301 nai\u0308ve",
    "stacked accents NFD": "A\u0302\u0300 e\u0323\u0302 o\u031b\u0301",
    "stacked accents NFC": "\u1ea6 \u1ec7 \u1edb",
    "double accent": "e\u0301\u0301",
    "leading combining mark": "\u0300abc",
    "combining after space": "a \u0301b",
    "long combining cluster": "a\u0300\u0301\u0302\u0303\u0304\u0305",
    # Controls and line ends
    "nul": "a\u0000b",
    "bell": "\u0007bell",
    "escape": "x\u001by",
    "delete": "a\u007fb",
    "next line": "one\u0085two",
    "crlf": "line1\r\nline2",
    "lone cr": "a\rb",
    "crlf runs": "\r\n\r\nx\r\n",
    "tabs and newlines": "col1\tcol2\n\tindented\n\n\nend",
    # Spaces
    "run of spaces": "a    b     c",
    "leading spaces": "   leading",
    "trailing spaces": "trailing   ",
    "both sides": "  both  ",
    "no-break space": "a\u00a0b",
    "thin and narrow spaces": "a\u2009b\u202fc\u205fd",
    "line separator": "a\u2028b\u2029c",
    "ogham space": "\u1680x",
    # Added tokens in text
    "sentinels": "<extra_id_0> x <extra_id_99>",
    "adjacent sentinels": "<extra_id_0><extra_id_1>",
    "sentinel glued": "fill<extra_id_5>in",
    "not a sentinel": "<extra_id_100> <extra_id_> <extra_id_0",
    "eos in text": "</s>",
    "eos mid text": "a</s>b </s> c",
    "pad in text": "<pad>",
    "pad and unk": "<pad>hello<unk>world",
    "bracketed": "<<extra_id_1>>",
    "near misses": "< /s> <s> </S> <PAD>",
    # Metaspace character in text
    "literal metaspace": "\u2581hello",
    "metaspace inside": "a\u2581b",
    "metaspace only": "\u2581\u2581",
    "underscores": "__init__ snake_case",
    # Long and odd words
    "long word": "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "repeated a": "a" * 300,
    "repeated ab": "ab" * 200,
    "repeated word": "supercalifragilisticexpialidocious" * 5,
    "url": "https://example.com/path/to?query=1&b=2#frag",
    "email": "first.last+tag@example.co.uk",
    "digits": "1234567890" * 10,
    "punctuation": "!!!???...,,,;;;::'''\"\"\"",
    "contractions": "I'm can't won't they're we've",
    "unknown characters": "\u1230\u120b\u121d \U00010348 \u2603",
    # Degenerate
    "empty": "",
    "one space": " ",
    "spaces only": "   ",
    "newline only": "\n",
    "whitespace only": "\t\n \u3000\u00a0\r\n",
    "zero width only": "\u200b\u200d\ufeff",
    "controls only": "\u0001\u0002\u0003",
}

CLEANUP_STRINGS = ["Hello , world . How are you ? I ' m fine !", "I do n't know . They 're here", "a . b"]

DECODE_CASES = [
    [0, 8774, 296, 1],
    [8774, 2, 296],
    [2, 2, 2],
    [3, 3, 8774],
    [3],
    [0],
    [],
    [1, 1],
    [32099, 8774, 32098, 296, 1],
    [32000, 3, 9, 32099],
    [0, 0, 3, 9, 3, 115, 1, 0, 0],
    [12198, 1635, 1737, 8, 826, 3634, 5, 1],
    [8774, 32100, 296],
    [8774, 99999, 296],
]


def score_hash(tok):
    """FNV-1a 64 over the IEEE bits of every piece score as the library holds them (its
    serialization writes shortest round-trip literals, so reading them back is exact). The two
    differ: tokenizers parses tokenizer.json with serde_json, transformers with Python's json."""
    h = 0xCBF29CE484222325
    for _, score in json.loads(tok.to_str())["model"]["vocab"]:
        for b in struct.pack("<d", score):
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def hard_strings():
    encode = []
    for name, text in HARD_STRINGS.items():
        ids = hf_encode(text)
        raw_ids = raw_encode(text)
        encode.append({
            "name": name,
            "text": text,
            "utf8_length": len(text.encode("utf-8")),
            "ids": ids,
            "ids_without_eos": hf(text, add_special_tokens=False).input_ids,
            "decoded": hf_decode(ids),
            "decoded_with_special": hf_decode(ids, skip=False),
            "tokenizer_json_ids": raw_ids,
            "tokenizer_json_decoded": raw_decode(raw_ids),
        })
    decode = []
    for ids in DECODE_CASES:
        decode.append({
            "ids": ids,
            "skip": hf_decode(ids),
            "keep": hf_decode(ids, skip=False),
            "tokenizer_json_skip": raw_decode(ids),
            "tokenizer_json_keep": raw_decode(ids, skip=False),
        })
    cleanup = []
    for text in CLEANUP_STRINGS:
        ids = hf_encode(text)
        cleanup.append({"text": text, "ids": ids, "decoded": hf_decode(ids, clean_up_tokenization_spaces=True)})
    write("hard-strings.json", {
        "reference": VERSIONS,
        "score_bits_fnv1a64": {"transformers": score_hash(hf.backend_tokenizer), "tokenizer_json": score_hash(raw)},
        "encode": encode,
        "decode": decode,
        "clean_up_tokenization_spaces": cleanup,
        "variants": variants(),
    })


def variants():
    """tokenizer.json files that differ from FLAN-T5's in the pipeline components, run through
    tokenizers.Tokenizer.from_file. The charsmap is written as "$FLAN" and substituted by both sides,
    so the fixture stays small; the Swift test builds the same file from the shared one."""
    precompiled = {"type": "Precompiled", "precompiled_charsmap": "$FLAN"}
    specs = [
        {
            "name": "strip, literal replace, prepend first without split, prefix template, added tokens",
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Strip", "strip_left": True, "strip_right": True},
                precompiled,
                {"type": "Replace", "pattern": {"String": "  "}, "content": " "},
            ]},
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
            "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<pad>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<pad>": {"id": "<pad>", "ids": [0], "tokens": ["<pad>"]},
                                   "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}},
            },
            "extra_added_tokens": [
                {"id": 32100, "content": "\ufb01sh", "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": True, "special": False},
                {"id": 32101, "content": "[SEP]", "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True},
                {"id": 7, "content": "\u2581hello", "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": False},
            ],
        },
        {
            "name": "no normalizer, whitespace split then metaspace never, no decoder or post-processor",
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "WhitespaceSplit"},
                {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": True},
            ]},
            "decoder": None,
            "post_processor": None,
            "extra_added_tokens": [],
        },
        {
            "name": "prepend normalizer, regex replace, legacy add_prefix_space metaspace",
            "normalizer": {"type": "Sequence", "normalizers": [
                precompiled,
                {"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "#"},
                {"type": "Prepend", "prepend": "\u2581"},
            ]},
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
            "decoder": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
            "post_processor": None,
            "extra_added_tokens": [],
        },
    ]
    texts = ["Hello world", "  padded   text  ", "\ufb01sh and \ufb01shing", "x[SEP]y [SEP] z", "hello hello",
             "<extra_id_0> after sentinel", "tab\tand\nnewline", "numbers 123 and 4567", "\u2581hello again",
             "", "   ", "caf\u00e9 \ufb01sh </s> end", "A\u0302\u0300", "\u0001abc", " \u0001abc", "\u00a8x",
             "00 leading digits"]
    out = []
    for spec in specs:
        tok = build_variant(spec)
        cases = []
        for text in texts:
            ids = tok.encode(text).ids
            cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True),
                          "decoded_with_special": tok.decode(ids, skip_special_tokens=False)})
        out.append({**spec, "cases": cases})
    return out


def substitute(node):
    if isinstance(node, dict):
        return {k: (CHARSMAP if v == "$FLAN" else substitute(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v) for v in node]
    return node


def build_variant(spec):
    j = copy.deepcopy(TOKENIZER_JSON)
    for key in ("normalizer", "pre_tokenizer", "decoder", "post_processor"):
        j[key] = substitute(spec[key])
    j["added_tokens"] = j["added_tokens"] + spec["extra_added_tokens"]
    return Tokenizer.from_str(json.dumps(j))


ALPHABET = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" " * 12 + "\t\n\r" + ".,;:!?'\"()[]{}<>/\\-_=+*&^%$#@~`|")
    + ["\u00e9", "e\u0301", "\u0301", "\u0308", "\u0302\u0300", "A\u0302", "\u00f1", "n\u0303", "\u00df", "\u0130"]
    + ["\ufb01", "\uff21", "\uff41", "\uff11", "\u3000", "\u00a0", "\u2009", "\u200b", "\u200d", "\ufeff", "\u00ad"]
    + ["\u4e2d", "\u6587", "\u3042", "\u30a2", "\uac00", "\u1100", "\u1161", "\u0645", "\u0627", "\u05d0", "\u0915", "\u094d"]
    + ["\U0001f600", "\U0001f468", "\U0001f3fd", "\u2764", "\ufe0f", "\U0001f1ef", "\U0001f984", "\u1230", "\u2603"]
    + ["\u0000", "\u0007", "\u001b", "\u007f", "\u0085", "\u2028", "\u2581", "\u2122", "\u00bd", "\u2026"]
    + ["</s>", "<pad>", "<unk>", "<extra_id_0>", "<extra_id_42>", "<extra_id_", "</", "the", " of", "ing", "tion"]
)


def generated():
    rng = random.Random(20261123)
    cases = []
    for _ in range(500):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40)))
        ids = hf_encode(text)
        raw_ids = raw_encode(text)
        cases.append({"text": text, "utf8_length": len(text.encode("utf-8")), "ids": ids, "decoded": hf_decode(ids),
                      "tokenizer_json_ids": raw_ids, "tokenizer_json_decoded": raw_decode(raw_ids)})
    decode = []
    special = [0, 1, 2, 32099, 32050, 32000]
    for _ in range(200):
        ids = [rng.choice(special) if rng.random() < 0.2 else rng.randrange(3, 32000) for _ in range(rng.randint(0, 20))]
        decode.append({"ids": ids, "skip": hf_decode(ids), "keep": hf_decode(ids, skip=False)})
    write("generated-strings.json", {"reference": VERSIONS, "seed": 20261123, "encode": cases, "decode": decode})


def tiny():
    from tokenizers import AddedToken, decoders, models, pre_tokenizers, processors
    specs = [
        ("ties and unknowns",
         [("<unk>", 0.0), ("\u2581", -1.0), ("a", -1.0), ("b", -1.0), ("ab", -2.0), ("\u2581a", -2.5), ("c", -3.0),
          ("abc", -4.0), ("\u00e9", -2.0), ("e", -1.5), ("</s>", 0.0), ("\u2581b", -2.0), ("ba", -2.0), ("<pad>", 0.0)],
         True,
         ["ab", "abc", "aab", "bab", "zz", "azzb", "abzab", "a b", "\u00e9", "e\u0301", "", "ab</s>ab", " ", "\U0001f600\u00e9\U0001f600"]),
        # Scores above 20 make two unknowns (each min - 10) outscore a real piece, so a fused
        # unknown run can spell a vocabulary piece and must take that piece's id.
        ("positive scores",
         [("<unk>", 25.0), ("xy", 29.0), ("q", 35.0), ("</s>", 25.0), ("xyz", 26.0), ("<pad>", 40.0)],
         False,
         ["xy", "xyq", "qxyq", "xyz", "zz", "q"]),
    ]
    out = []
    for name, vocab, metaspace, texts in specs:
        tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=False))
        if metaspace:
            tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
            tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 3 if not metaspace else 10)])
        tok.add_special_tokens([AddedToken("</s>", special=True, normalized=False)])
        cases = []
        for text in texts:
            ids = tok.encode(text).ids
            cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True),
                          "decoded_with_special": tok.decode(ids, skip_special_tokens=False)})
        out.append({"name": name, "tokenizer": json.loads(tok.to_str()), "cases": cases})
    write("tiny-tokenizers.json", {"reference": VERSIONS, "tokenizers": out})


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    dialogsum()
    hard_strings()
    generated()
    tiny()
