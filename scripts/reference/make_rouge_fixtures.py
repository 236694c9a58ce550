"""Records Google's rouge_score 0.1.2 (use_stemmer=True, NLTK's PorterStemmer) as the reference the
Swift `Rouge` module must match. Run with the reference venv:

    .venv-ref/bin/python scripts/reference/make_rouge_fixtures.py

Reads <repo>/assets/dialogsum and writes Tests/Fixtures/rouge/:

  dialogsum-pairs.json  for each of the 500 DialogSum test rows, summary2 scored against summary1
                        as the reference: [precision, recall, fmeasure] of rouge1, rouge2, rougeL
                        and rougeLsum. The texts stay in assets/; each row keeps its fname and an
                        FNV-1a hash of both summaries so a changed data file is reported as such.
                        Also the plain mean F-measure of each type (rouge_score's own aggregator
                        bootstraps, so it is not reproducible).
  dialogsum-multiline.json
                        the first 200 test rows again with long multi-line texts, so rougeLsum is
                        checked on natural text with many lines on both sides: the dialogue as the
                        prediction against summary1 + "\n" + summary3 as the reference. Same layout.
  edge-cases.json       hand-written pairs with their texts, rouge_score's tokens for both sides,
                        and scores: empty texts, punctuation, numbers, non-ASCII text (including
                        the two code points whose lowercase is ASCII), repeats, multi-line text
                        for rougeLsum, and the stemmer's irregular forms and special rules.
  generated-pairs.json  seeded random multi-line pairs over a small vocabulary, so that rougeLsum's
                        union-LCS (whose result depends on which LCS the backtrack picks) and the
                        clipped counts are exercised far more than natural text does.
  stems.json            NLTK's stem for every distinct token longer than 3 characters in the
                        DialogSum dev and test summaries and dialogues (after rouge_score's
                        tokenization), for the words named in the stemmer's documentation and
                        special cases, and for generated base + suffix words covering every
                        suffix rule, at every length (the stemmer is public API, not only used on
                        tokens longer than 3).
"""
import json
import pathlib
import random
from importlib.metadata import version

from nltk.stem import porter
from rouge_score import rouge_scorer, tokenize

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "assets/dialogsum"
OUT = REPO / "Tests/Fixtures/rouge"
TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]

assert version("rouge-score") == "0.1.2", version("rouge-score")
VERSIONS = {"rouge_score": version("rouge-score"), "nltk": version("nltk")}

scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=True)
stemmer = porter.PorterStemmer()
assert stemmer.mode == porter.PorterStemmer.NLTK_EXTENSIONS


def fnv1a32(text: str) -> str:
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


def scores(prediction: str, reference: str) -> dict:
    # rouge_score's argument order is (target, prediction): the reference comes first.
    s = scorer.score(reference, prediction)
    # Empty inputs give integer 0s; store floats so every value has one JSON shape.
    return {t: [float(s[t].precision), float(s[t].recall), float(s[t].fmeasure)] for t in TYPES}


def tokens(text: str) -> list:
    return tokenize.tokenize(text, stemmer)


def write(name: str, payload) -> None:
    path = OUT / name
    path.write_text(json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size} bytes)")


def read_rows(split: str) -> list:
    with open(DATA_DIR / f"dialogsum.{split}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def dialogsum_pairs() -> None:
    rows = read_rows("test")
    assert len(rows) == 500, len(rows)
    out = []
    for row in rows:
        prediction, reference = row["summary2"], row["summary1"]
        out.append({"fname": row["fname"], "fnv1a32": [fnv1a32(prediction), fnv1a32(reference)],
                    **scores(prediction, reference)})
    # A plain left-to-right sum, as the Swift mean is computed.
    mean = {t: sum(r[t][2] for r in out) / len(out) for t in TYPES}
    write("dialogsum-pairs.json", {
        **VERSIONS,
        "source": "dialogsum.test.jsonl",
        "prediction": "summary2",
        "reference": "summary1",
        "scoreOrder": ["precision", "recall", "fmeasure"],
        "meanFMeasure": mean,
        "rows": out,
    })


def dialogsum_multiline() -> None:
    rows = read_rows("test")[:200]
    out = []
    for row in rows:
        prediction, reference = row["dialogue"], row["summary1"] + "\n" + row["summary3"]
        out.append({"fname": row["fname"], "fnv1a32": [fnv1a32(prediction), fnv1a32(reference)],
                    **scores(prediction, reference)})
    write("dialogsum-multiline.json", {
        **VERSIONS,
        "source": "dialogsum.test.jsonl",
        "prediction": "dialogue",
        "reference": "summary1 + \"\\n\" + summary3",
        "scoreOrder": ["precision", "recall", "fmeasure"],
        "rows": out,
    })


STEMMER_WORDS = (
    "dying lying tying skies sky news innings inning outings outing cannings canning howe proceed "
    "exceed succeed generously agreed feed ponies caresses caress cats ties hopping hopped tanned "
    "falling hissing fizzed failing filing conflated troubled sized plastered bled motoring sing "
    "happy enjoy spy fly try relational conditional rational valency valenci hesitanci digitizer "
    "conformabli radicalli differentli vileli analogousli vietnamization predication operator "
    "feudalism decisiveness hopefulness callousness formaliti sensitiviti sensibiliti triplicate "
    "formative formalize electriciti electrical hopeful goodness revival allowance inference "
    "airliner gyroscopic adjustable defensible irritant replacement adjustment dependent adoption "
    "homologou communism activate angulariti homologous effective bowdlerize probate rate cease "
    "controll roll generate generous ski skis dies lies tied idly gently ugly early only singly "
    "atlas cosmos bias andes herring earring flies spied died cried fullli fulli hopefulli "
    "archaeology geology theology apology analogi element agreement yyyy yyyyyyyy syzygy toy "
    "oaten orrery trouble troubles private oats trees ivy tree by conditionalli rationalli ace oping"
).split()

EDGE_CASES = [
    ("empty prediction", "", "The cat sat on the mat."),
    ("empty reference", "The cat sat on the mat.", ""),
    ("both empty", "", ""),
    ("whitespace only", " \t ", "\n\n \n"),
    ("punctuation only prediction", "!!! ... ??? -- ;:", "the cat."),
    ("punctuation only both", "...", "?!"),
    ("identical", "#Person1# asks #Person2# to send the memo.", "#Person1# asks #Person2# to send the memo."),
    ("numbers", "In 2023, 3.5 million people paid $1,000 for 2 tickets.",
     "3.5 million people in 2023 paid 1000 dollars"),
    ("numbers and stems", "The 1990s and 80s: mp3s, 4th, 2nd-hand 100km runs", "the 1990 80 mp3 4th hand 100km run"),
    ("accents", "Café naïve résumé façade", "cafe naive resume facade"),
    ("cjk and mixed scripts", "中文 text with 中文 words ☕ and emoji 👍", "text words emoji"),
    ("lowercase to ascii", "\u0130stanbul marathon 5\u212a run", "istanbul marathon 5k run"),
    ("other casing", "STRASSE Straße ΣΟΦΟΣ ＡＢＣ ﬁnal x² ٣", "strasse stra final x abc"),
    ("combining marks", "cafe\u0301 nai\u0308ve", "cafe naive"),
    ("repeated words", "the the the the cat cat", "the cat the cat the dog"),
    ("repeated bigrams", "a b a b a b a b", "a b a b c a b"),
    ("single token", "hello", "hello"),
    ("short and long tokens", "sky skis ski skies abc abcd", "skies sky ski abcd"),
    ("hyphens and apostrophes", "Don't use e-mail; it's state-of-the-art.", "do not use email its state of the art"),
    ("person tags", "#Person1#'s friend #Person2# can't come.", "#Person2# cannot come to #Person1#'s party."),
    ("multi-line with blank lines", "Tom met Ann.\n\nAnn left early.\n\n\nTom stayed.\n",
     "Ann met Tom.\nTom stayed late.\n\nAnn left."),
    ("multi-line against single line", "first line here\nsecond line here", "first line here second line here"),
    ("crlf is not a sentence break", "one two\r\nthree four\r\n", "one two\nthree four"),
    ("other line separators", "one two\u2028three four\u2029five\x0bsix\x0cseven\x85eight", "one two\nthree four\nfive six seven eight"),
    ("tabs and nbsp", "one\ttwo\u00a0three", "one two three"),
    ("lines with only punctuation", "...\n!!!\nthe end", "the end\n???"),
    ("lsum double counting", "a a a\na a", "a a\na"),
    ("lsum union", "a b c d\ne f g", "a e b f c g d"),
    ("lsum ties", "b a\na b", "a b\nb a\na"),
    # "c b" has two LCSs with "b c" ("c" or "b"). rouge_score's backtrack picks "c", which with
    # the second line's "b" covers the whole reference; picking "b" would halve the recall.
    ("lsum lcs choice", "b c\nb", "c b"),
    ("irregular forms", "dying lying tying skies news innings outings cannings howe",
     "die lie tie sky news inning outing canning howe"),
    ("proceed exceed succeed", "They proceed, exceed and succeed; proceeding exceeded succeeding.",
     "they proceeded to exceed and succeeded in proceeding"),
    ("step 1", "generously agreed feed ponies caresses hopping ski skis dies lies tied",
     "generous agree feeds pony caress hop skiing skied die lie tie"),
    ("step 1c", "idly gently ugly early only singly happy enjoy spy fly try",
     "idle gentle ugli earli onli single happi enjoy spied flies tried"),
    ("step 2", "relational conditional rational valency digitizer conformabli radicalli differentli "
     "vileli analogousli vietnamization predication operator",
     "relate condition rational valence digitize conformable radical different vile analogous "
     "vietnamize predicate operate"),
    ("step 2 continued", "feudalism decisiveness hopefulness callousness formaliti sensitiviti sensibiliti",
     "feudal decisive hopeful callous formal sensitive sensible"),
    ("step 3", "triplicate formative formalize electriciti electrical hopeful goodness",
     "triplic form formal electric electric hope good"),
    ("step 4", "revival allowance inference airliner gyroscopic adjustable defensible irritant replacement "
     "adjustment dependent adoption homologou communism activate angulariti homologous effective bowdlerize",
     "reviv allow infer airlin gyroscop adjust defens irrit replac adjust depend adopt homolog commun "
     "activ angular homolog effect bowdler"),
    ("step 5", "probate rate cease controll roll generate generous", "probat rate ceas control roll gener gener"),
    ("s-endings", "atlas cosmos bias andes innings outing canning herring earring",
     "atla cosmo bia and inning outings cannings her ear"),
    ("y runs", "yyyy yyyyy syzygy toy toys enjoying", "yyyy syzygi toi enjoy"),
    ("long text", " ".join(["the quick brown fox jumps over the lazy dog"] * 30),
     " ".join(["a quick brown dog jumps over the lazy fox"] * 25)),
]


def edge_cases() -> None:
    cases = []
    for name, prediction, reference in EDGE_CASES:
        cases.append({"name": name, "prediction": prediction, "reference": reference,
                      "predictionTokens": tokens(prediction), "referenceTokens": tokens(reference),
                      **scores(prediction, reference)})
    write("edge-cases.json", {**VERSIONS, "scoreOrder": ["precision", "recall", "fmeasure"], "cases": cases})


def generated_pairs() -> None:
    rng = random.Random(20240611)
    vocab = ["a", "b", "c", "d", "e", "cats", "cat", "running", "runs", "ran", "the", "ponies", "pony"]
    separators = [" ", " ", " ", " ", ", ", ". ", "\n", "\n", "\n\n", " - "]

    def text() -> str:
        n = rng.choice([0, 1, 2, 3, 5, 8, 12, 20])
        words = [rng.choice(vocab[: rng.randint(2, len(vocab))]) for _ in range(n)]
        out = ""
        for i, w in enumerate(words):
            out += (rng.choice(separators) if i else rng.choice(["", "", "\n"])) + w
        return out + rng.choice(["", "", ".", "\n"])

    pairs = []
    for _ in range(400):
        prediction, reference = text(), text()
        pairs.append({"prediction": prediction, "reference": reference, **scores(prediction, reference)})
    write("generated-pairs.json", {**VERSIONS, "scoreOrder": ["precision", "recall", "fmeasure"], "pairs": pairs})


def stems() -> None:
    words = set(STEMMER_WORDS)
    for split in ["dev", "test"]:
        for row in read_rows(split):
            for key in ["dialogue", "summary", "summary1", "summary2", "summary3"]:
                if key in row:
                    words.update(t for t in tokenize.tokenize(row[key], None) if len(t) > 3)
    dialogsum_count = len(words)
    bases = ["", "b", "y", "a", "e", "by", "ay", "yy", "tr", "oat", "tree", "hop", "fil", "fail", "happ",
             "enjo", "gen", "cont", "rel", "geo", "archaeo", "troubl", "privat", "fall", "hiss", "fizz",
             "conflat", "siz", "tann", "sky", "ion", "formal", "sensit", "electr", "adopt", "rat", "radic",
             "abl", "ent", "syzyg", "cri", "fe", "agr"]
    suffixes = ["", "s", "es", "ies", "sses", "ss", "ied", "ed", "eed", "ing", "y", "ly", "ational", "tional",
                "enci", "anci", "izer", "bli", "abli", "alli", "entli", "eli", "ousli", "ization", "ation",
                "ator", "alism", "iveness", "fulness", "ousness", "aliti", "iviti", "biliti", "fulli", "logi",
                "icate", "ative", "alize", "iciti", "ical", "ful", "ness", "al", "ance", "ence", "er", "ic",
                "able", "ible", "ant", "ement", "ment", "ent", "ion", "sion", "tion", "ou", "ism", "ate", "iti",
                "ous", "ive", "ize", "e", "ll", "ally", "ations", "izations", "ingly", "edly", "fully",
                "nesses", "alliness"]
    words.update(b + s for b in bases for s in suffixes if b + s)
    table = {w: stemmer.stem(w) for w in sorted(words)}
    write("stems.json", {**VERSIONS, "mode": stemmer.mode, "dialogsumWords": dialogsum_count, "stems": table})


OUT.mkdir(parents=True, exist_ok=True)
dialogsum_pairs()
dialogsum_multiline()
edge_cases()
generated_pairs()
stems()
