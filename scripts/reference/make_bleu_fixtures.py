"""Records sacreBLEU (the PyPI package pinned in requirements.txt) as the reference the Swift `Bleu`
module must match. Needs only sacrebleu, so a small venv of its own is enough:

    python3 -m venv .venv-bleu && .venv-bleu/bin/pip install sacrebleu==2.6.0 rouge-score==0.1.2 nltk==3.10.4
    .venv-bleu/bin/python scripts/reference/make_bleu_fixtures.py

(.venv-ref works too.) Reads <repo>/assets/dialogsum and writes Tests/Fixtures/bleu/:

  tokens.json     sacreBLEU's 13a tokenisation (after BLEU's rstrip) of hand-written lines that
                  exercise each rule: entities, <skipped>, "-\\n", punctuation splitting, periods
                  and commas next to digits, digit-hyphen, Unicode whitespace and digits.
  sentences.json  sentence_bleu (defaults: exp smoothing, effective order) of edge cases and of
                  DialogSum test rows (summary1 against [summary2, summary3] and against
                  [summary2]), with score, precisions, bp, counts, totals, lengths and signature.
  score-pairs.jsonl, score-expected.json
                  an `adapter-serve score --pairs` input (DialogSum summary1 as the prediction,
                  single- and multi-reference lines, and edge lines) with what `score --json` must
                  print: rouge_score F-measures (score_multi for several references), sentence_bleu
                  per pair, their means, and corpus_bleu with its signature.
  corpora.json    corpus_bleu (defaults: exp smoothing, no effective order) of the edge-case
                  corpora and of all DialogSum test rows, single- and multi-reference, and a corpus
                  whose segments have different numbers of references (signature nrefs:var).

Every hypothesis and reference text is stored in the fixture (DialogSum texts included), so the
Swift tests read nothing else and a changed data file cannot silently change the expectation.
"""
import json
import pathlib
from importlib.metadata import version

import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

REPO = pathlib.Path(__file__).resolve().parents[2]
OUT = REPO / "Tests/Fixtures/bleu"
VERSION = version("sacrebleu")
assert VERSION == "2.6.0", VERSION

EDGE_SENTENCES = [
    # (id, hypothesis, references)
    ("identical", "The cat sat on the mat.", ["The cat sat on the mat."]),
    ("empty-hypothesis", "", ["The cat sat on the mat."]),
    ("empty-reference", "The cat sat on the mat.", [""]),
    ("both-empty", "", [""]),
    ("whitespace-hypothesis", " \t ", ["a b c d"]),
    ("one-word-match", "cat", ["cat"]),
    ("one-word-miss", "dog", ["cat"]),
    ("one-word-vs-long", "cat", ["the cat sat on the mat"]),
    ("two-words", "the cat", ["the cat sat on the mat"]),
    ("three-words", "the cat sat", ["the cat sat on the mat"]),
    ("no-bigram-match", "cat the mat on sat", ["the cat sat on the mat"]),
    ("no-trigram-match", "the cat on the mat sat", ["the cat sat on the mat"]),
    ("no-4gram-match", "the cat sat the mat on the", ["the cat sat on the mat"]),
    ("no-match-at-all", "alpha beta gamma delta", ["one two three four"]),
    ("longer-than-reference", "the cat sat on the mat and then it sat on the mat again", ["the cat sat on the mat"]),
    ("repeated-words-clipped", "the the the the the the the", ["the cat is on the mat"]),
    ("punctuation", "Hello, world! (It's 3:45 p.m.) \"Quoted\" [x] {y} <z> a/b a\\b a|b a~b a^b a_b a`b @#$%&*+=;?",
     ["Hello world! It's 3:45 p.m. \"Quoted\" x y z a/b"]),
    ("numbers", "It costs $1,000.50 or 3.14, in 2020-2021 and 10-15 items; 1.000,5 too.",
     ["It costs $1,000.50 or 3.14 in 2020-2021 and 10 - 15 items, 1.000,5 too."]),
    ("periods-and-commas", "a.b a..b ..a. 1.a a.1 ,, 1,2 a,1 1,a end.", ["a . b a..b , end."]),
    ("entities", "Tom &amp; Jerry &lt;3 &quot;fun&quot; &gt; x &amp;quot;", ["Tom & Jerry <3 \"fun\" > x &quot;"]),
    ("skipped-and-newlines", "one <skipped> two-\nthree\nfour", ["one two three four"]),
    ("hyphens", "state-of-the-art 5-year-old 3-4 a-1 -5 x -", ["state-of-the-art 5 - year-old 3 - 4"]),
    ("unicode-words", "Café naïve résumé — “quoted” ‘single’ … 東京 Ελληνικά", ["Café naive résumé - \"quoted\" 東京 Ελληνικά"]),
    ("unicode-combining-vs-precomposed", "cafe\u0301 au lait", ["caf\u00e9 au lait"]),
    ("unicode-whitespace", "a\u00a0b\u3000c\u2009d\u200be\u0085f", ["a b c d e f"]),
    ("unicode-digits", "\u0663.\u0664 ٣,٤ 1.2", ["\u0663 . \u0664 1.2"]),
    ("trailing-whitespace", "the cat sat  \n\t", ["the cat sat"]),
    ("crlf", "line one\r\nline two", ["line one line two"]),
    ("case-sensitive", "THE CAT SAT ON THE MAT", ["the cat sat on the mat"]),
    ("multi-ref-different-lengths", "the cat sat on the mat", ["a cat", "the cat was sitting on the mat today", "cat on mat"]),
    ("multi-ref-closest-tie-shorter", "one two three four five", ["one two three four", "one two three four five six"]),
    ("multi-ref-clip-by-max", "the the the cat", ["the cat", "the the mat"]),
    ("multi-ref-one-empty", "the cat sat on the mat", ["", "the cat sat on the mat"]),
]

TOKEN_LINES = [
    "", " ", "a", "  leading and trailing  ", "Hello, world!", "3.14 1,000 a.b a,b 1.a a.1",
    "x.. ..x .,. ,., 1..2 1,,2", "&amp;&lt;&gt;&quot; &amp;amp; & amp;", "<skipped>x<skipped>", "a-\nb c\nd",
    "2020-21 a-b 1- -1 1--2", "It's O'Neil's", "(a)[b]{c}<d>", "a/b\\c|d~e^f_g`h", "$5 #1 @me 100% a&b a*b a+b a=b",
    "a;b:c?d!e\"f", "\u00a0lead", "tail\u3000", "x\u2028y\u2029z\x1cw", "\u0661\u0662.\u0663", "é e\u0301",
    "line\r\nbreak", "emoji 😀, ok.", "ZWSP\u200bjoins",
]


def score_fields(score) -> dict:
    return {"score": score.score, "precisions": score.precisions, "bp": score.bp, "counts": score.counts,
            "totals": score.totals, "sys_len": score.sys_len, "ref_len": score.ref_len}


def sentence_case(case_id: str, hypothesis: str, references: list) -> dict:
    metric = BLEU(effective_order=True)  # sentence_bleu's defaults
    result = sacrebleu.sentence_bleu(hypothesis, references)
    assert result.score == metric.sentence_score(hypothesis, references).score
    return {"id": case_id, "hypothesis": hypothesis, "references": references, **score_fields(result),
            "signature": str(metric.get_signature())}


def corpus_case(case_id: str, hypotheses: list, references: list) -> dict:
    """references[i] lists segment i's references; sacreBLEU wants streams, padded with None."""
    width = max(len(r) for r in references)
    streams = [[r[k] if k < len(r) else None for r in references] for k in range(width)]
    metric = BLEU()  # corpus_bleu's defaults
    result = sacrebleu.corpus_bleu(hypotheses, streams)
    assert result.score == metric.corpus_score(hypotheses, streams).score
    return {"id": case_id, "hypotheses": hypotheses, "references": references, **score_fields(result),
            "signature": str(metric.get_signature())}


def write_score_pairs(rows: list) -> None:
    """The `score` command's input and expected output."""
    lines = []
    for i, row in enumerate(rows[:40]):
        if i % 3 == 0:
            lines.append({"prediction": row["summary1"], "references": [row["summary2"], row["summary3"]]})
        elif i % 3 == 1:
            lines.append({"prediction": row["summary1"], "reference": row["summary2"]})
        else:
            lines.append({"prediction": row["summary1"], "references": [row["summary3"]], "id": row["fname"]})
    lines += [{"prediction": "", "reference": "Someone said something."},
              {"prediction": "cat", "references": ["the cat sat", "a cat", "cat on the mat, 3.5 times."]},
              {"prediction": "It costs $1,000.50, \"twice\" &amp; more.", "reference": "It costs $1,000.50 twice & more."}]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    pairs = []
    for line in lines:
        refs = line["references"] if "references" in line else [line["reference"]]
        rouge = scorer.score_multi(refs, line["prediction"])
        pair = {k: rouge[k].fmeasure for k in ["rouge1", "rouge2", "rougeL", "rougeLsum"]}
        pair["bleu"] = sacrebleu.sentence_bleu(line["prediction"], refs).score
        pairs.append(pair)
    mean = {k: sum(p[k] for p in pairs) / len(pairs) for k in pairs[0]}
    refs = [line["references"] if "references" in line else [line["reference"]] for line in lines]
    width = max(map(len, refs))
    metric = BLEU()
    corpus = metric.corpus_score([line["prediction"] for line in lines], [[r[k] if k < len(r) else None for r in refs] for k in range(width)])
    (OUT / "score-pairs.jsonl").write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    expected = {"sacrebleu": VERSION, "rouge_score": version("rouge-score"), "mean": mean,
                "corpus": {"bleu": corpus.score, "bleu_signature": str(metric.get_signature())}, "pairs": pairs}
    (OUT / "score-expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (REPO / "assets/dialogsum/dialogsum.test.jsonl").read_text().splitlines() if line.strip()]
    tokenizer = BLEU().tokenizer
    tokens = [{"line": line, "tokens": tokenizer(line.rstrip()).split()} for line in TOKEN_LINES]
    tokens += [{"line": h, "tokens": tokenizer(h.rstrip()).split()} for _, h, _ in EDGE_SENTENCES]

    sentences = [sentence_case(*c) for c in EDGE_SENTENCES]
    for row in rows[:100]:
        sentences.append(sentence_case(f"{row['fname']}:multi", row["summary1"], [row["summary2"], row["summary3"]]))
        sentences.append(sentence_case(f"{row['fname']}:single", row["summary1"], [row["summary2"]]))

    corpora = [
        corpus_case("edge-sentences", [h for _, h, _ in EDGE_SENTENCES], [r for _, _, r in EDGE_SENTENCES]),
        corpus_case("one-short-segment", ["the cat"], [["the cat sat on the mat"]]),
        corpus_case("no-4grams-anywhere", ["the cat sat", "a dog"], [["the cat sat"], ["a dog"]]),
        corpus_case("empty-hypotheses", ["", ""], [["a b c d"], ["e f g h"]]),
        corpus_case("dialogsum-multi", [r["summary1"] for r in rows], [[r["summary2"], r["summary3"]] for r in rows]),
        corpus_case("dialogsum-single", [r["summary1"] for r in rows], [[r["summary2"]] for r in rows]),
        corpus_case("dialogsum-variable-refs", [r["summary1"] for r in rows[:60]],
                    [[r["summary2"], r["summary3"]][: 1 + i % 2] for i, r in enumerate(rows[:60])]),
    ]

    write_score_pairs(rows)
    meta = {"sacrebleu": VERSION}
    for name, cases in [("tokens", tokens), ("sentences", sentences), ("corpora", corpora)]:
        (OUT / f"{name}.json").write_text(json.dumps({**meta, "cases": cases}, ensure_ascii=False, indent=1) + "\n")
        print(f"{name}.json: {len(cases)} cases")


if __name__ == "__main__":
    main()
