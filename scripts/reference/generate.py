"""Writes the committed reference files the Rust ports are tested against.

    python generate.py vader OUT_DIR   # vaderSentiment 3.3.2 scores + CPython's Unicode predicates
    python generate.py nade OUT_DIR    # nade 0.3.1 emotions + pyarrow's preprocessing per code point

Run through scripts/reference/generate.sh, which installs the pinned packages.
"""

import json
import os
import sys

import sentences as corpus


def ranges(predicate):
    """Code points where predicate holds, as inclusive hex ranges."""
    out, start = [], None
    for cp in range(0x110000 + 1):
        hit = cp < 0x110000 and not (0xD800 <= cp <= 0xDFFF) and predicate(chr(cp))
        if hit and start is None:
            start = cp
        elif not hit and start is not None:
            out.append(f"{start:X}-{cp - 1:X}" if cp - 1 != start else f"{start:X}")
            start = None
    return " ".join(out)


def vader(out_dir):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    texts = corpus.sentences()
    with open(os.path.join(out_dir, "vader-3.3.2.jsonl"), "w", encoding="utf-8") as f:
        for text in texts:
            scores = analyzer.polarity_scores(text)
            f.write(json.dumps({"text": text, **scores}, ensure_ascii=False) + "\n")
    # The str methods VADER's rules use, per code point (a single character's
    # isupper/islower are the Uppercase/Lowercase flags; istitle adds Lt).
    with open(os.path.join(out_dir, "python-unicode.txt"), "w", encoding="utf-8") as f:
        f.write(f"# CPython {sys.version.split()[0]}: str methods per code point, inclusive hex ranges\n")
        f.write("isspace " + ranges(str.isspace) + "\n")
        f.write("isupper " + ranges(str.isupper) + "\n")
        f.write("islower " + ranges(str.islower) + "\n")
        f.write("istitle_only " + ranges(lambda c: c.istitle() and not c.isupper()) + "\n")
    print(f"vader: {len(texts)} sentences", file=sys.stderr)


def nade(out_dir):
    import pyarrow as pa
    from nade import Nade

    model = Nade()
    texts = corpus.sentences(generated=1400, per_source={"tweets_GroundTruth.txt": 700,
                                                         "movieReviewSnippets_GroundTruth.txt": 150,
                                                         "amazonReviewSnippets_GroundTruth.txt": 150,
                                                         "nytEditorialSnippets_GroundTruth.txt": 150})
    scores = model.predict(texts)
    prepared = Nade.preprocess(texts).to_pylist()
    with open(os.path.join(out_dir, "nade-0.3.1.jsonl"), "w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            row = {"text": text, "preprocessed": prepared[i]}
            row.update({label: scores[label][i].as_py() for label in model.labels})
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    # Preprocessing per code point: inside a word and alone (trimming).
    # Only code points whose output is not the identity are listed.
    cps = [cp for cp in range(0x110000) if not (0xD800 <= cp <= 0xDFFF)]
    inside = Nade.preprocess([f"a{chr(cp)}b" for cp in cps]).to_pylist()
    alone = Nade.preprocess([chr(cp) for cp in cps]).to_pylist()
    with open(os.path.join(out_dir, "pyarrow-preprocess.tsv"), "w", encoding="utf-8") as f:
        f.write(f"# pyarrow {pa.__version__}: code point (hex), nade preprocess of a<c>b and of <c>, as JSON strings,\n")
        f.write("# for every code point where either is not the identity\n")
        for cp, a, b in zip(cps, inside, alone):
            c = chr(cp)
            if a != f"a{c}b" or b != c:
                f.write(f"{cp:X}\t{json.dumps(a, ensure_ascii=True)}\t{json.dumps(b, ensure_ascii=True)}\n")
    print(f"nade: {len(texts)} sentences", file=sys.stderr)


if __name__ == "__main__":
    {"vader": vader, "nade": nade}[sys.argv[1]](sys.argv[2])
