"""The varied sentences the VADER and nade reference files are made from.

Deterministic (fixed seed, sorted inputs): the same packages give the same
list. Sources: vaderSentiment 3.3.2's own example sentences, samples of the
human-rated tweets and review snippets in its sdist, and generated social
posts that exercise every rule (boosters, negations, "but", caps, "kind of",
"least", idioms, emoticons, emoji, punctuation emphasis, URLs, mentions,
hashtags, slang, odd whitespace and casing, non-English text).
"""

import os
import random
import subprocess
import sys
import tarfile
import tempfile

import vaderSentiment.vaderSentiment as vs

PACKAGE_EXAMPLES = [
    "VADER is smart, handsome, and funny.",
    "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "The book was good.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!",
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    "Not bad at all",
    "Sentiment analysis has never been good.",
    "Sentiment analysis has never been this good!",
    "Most automated sentiment analysis tools are shit.",
    "With VADER, sentiment analysis is the shit!",
    "Other sentiment analysis tools can be quite bad.",
    "On the other hand, VADER is quite bad ass",
    "VADER is such a badass!",
    "Without a doubt, excellent idea.",
    "Roger Dodger is one of the most compelling variations on this theme.",
    "Roger Dodger is at least compelling as a variation on the theme.",
    "Roger Dodger is one of the least compelling variations on this theme.",
    "Not such a badass after all.",
    "Without a doubt, an excellent idea.",
    "It was one of the worst movies I've seen, despite good reviews.",
    "Unbelievably bad acting!!",
    "Poor direction.",
    "VERY poor production.",
    "The movie was bad.",
    "Very bad movie.",
    "VERY BAD movie!",
    "balloons", "cake", "candles", "happy birthday", "friends", "laughing", "smiling", "party",
    "riot", "fire", "fight", "blood", "mob", "war", "police", "tear gas",
    "I'm surprised to see just how amazingly helpful VADER is!",
    "Je suis surpris de voir comment VADER est incroyablement utile !",
    "Ich bin überrascht zu sehen, nur wie erstaunlich nützlich VADER!",
    "Me sorprende ver sólo cómo increíblemente útil VADER!",
    "Sono sorpreso di vedere solo come incredibilmente utile VADER è!",
    "Я удивлен увидеть, как раз как удивительно полезно ВЕЙДЕРА!",
    "私はちょうどどのように驚くほど役に立つベイダーを見て驚いています!",
    "أنا مندهش لرؤية فقط كيف مثير للدهشة فيدر فائدة!",
    "我很惊讶地看到VADER是如此有用!",
    "我很驚訝地看到VADER是如此有用!",
]

NON_ENGLISH = [
    "Me encanta este producto, es increíble 😍",
    "No me gusta nada, qué desastre",
    "C'est vraiment génial, merci beaucoup !",
    "Das ist leider total schlecht :(",
    "Questo è il miglior caffè della città",
    "Isso é muito bom, recomendo!",
    "Это просто ужасно, не покупайте",
    "最高の一日でした！ありがとう",
    "这个手机真的很好用",
    "정말 최고예요 👍",
    "هذا المنتج رائع جدا",
    "Bu ürün harika, kesinlikle tavsiye ederim",
    "Dit is echt geweldig",
    "To jest naprawdę złe",
    "Ο καιρός είναι υπέροχος σήμερα",
    "यह बहुत अच्छा है",
    "สินค้าดีมาก ชอบมาก",
    "Sản phẩm này rất tốt",
]

SUBJECTS = ["this phone", "the new update", "my order", "customer service", "the concert", "this brand",
            "the battery", "@acme_support", "the movie", "our trip", "the coffee here", "your app",
            "the delivery", "this game", "the hotel", "my flight", "the keynote", "this lipstick"]
VERBS = ["is", "was", "seems", "looks", "feels", "has been", "isn't", "wasn't", "is not", "never was",
         "won't be", "ain't", "doesnt seem", "cant be"]
FILLERS = ["lol", "tbh", "imo", "smh", "ngl", "fr", "omg", "wtf", "lmao", "idk", "btw", "rofl", "ugh", "meh",
           "yay", "wow", "hmm", "sigh", "haha", "xoxo"]
URLS = ["https://example.com/p/123?utm_source=twitter", "http://t.co/AbC123", "www.shop.example/item",
        "https://youtu.be/dQw4w9WgXcQ"]
TAILS = ["!", "!!", "!!!", "!!!!", "!!!!!", "?", "??", "???", "????", "?!", "...", ".", "", "", "", " :)",
         " :(", " :D", " <3", " :/", " ;)", " xD", " :-)", " :'("]
CONNECTIVES = ["but", "BUT", "But", "and", "so", "though", "yet", "nor", "or"]
ODD_SPACES = ["\u00a0", "\u2003", "\u3000", "\u001c", "\u0085", "\u2028", "\t", "  ", "\u200b", "\u180e"]
ODD_WORDS = ["İstanbul", "ǅemal", "ΣΟΦΟΣ", "ﬁne", "ＧＯＯＤ", "\u212aind", "ǈjubav", "ß", "ÀÉÎ", "ﬃ"]


def _case(rng, word):
    r = rng.random()
    if r < 0.15:
        return word.upper()
    if r < 0.25:
        return word.capitalize()
    return word


def _sdist_resources():
    """The human-rated texts of the vaderSentiment 3.3.2 sdist, by file name."""
    cache = os.environ.get("SOCIALPIPE_REFERENCE_CACHE", os.path.expanduser("~/.cache/socialpipe-reference"))
    sdist = os.path.join(cache, "vaderSentiment-3.3.2.tar.gz")
    if not os.path.exists(sdist):
        os.makedirs(cache, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "--dest", cache, "vaderSentiment==3.3.2"], check=True)
    texts = {}
    with tarfile.open(sdist) as outer:
        inner = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")
        with tempfile.TemporaryFile() as tmp:
            tmp.write(inner.read())
            tmp.seek(0)
            with tarfile.open(fileobj=tmp) as resources:
                for member in resources.getmembers():
                    if member.name.endswith("_GroundTruth.txt"):
                        raw = resources.extractfile(member).read().decode("utf-8", "replace")
                        rows = [line.split("\t", 2) for line in raw.splitlines() if line.count("\t") >= 2]
                        texts[os.path.basename(member.name)] = [r[2].strip() for r in rows if r[2].strip()]
    return texts


def _generated(rng, count):
    analyzer = vs.SentimentIntensityAnalyzer()
    lexicon = sorted(analyzer.lexicon)
    emoji_all = sorted(analyzer.emojis)
    boosters = sorted(vs.BOOSTER_DICT)
    negations = sorted(vs.NEGATE)
    idioms = sorted(vs.SPECIAL_CASES) + sorted(vs.SENTIMENT_LADEN_IDIOMS)
    posts = []
    for _ in range(count):
        parts = []
        if rng.random() < 0.3:
            parts.append("@" + rng.choice(["brand", "jane_doe", "KOL_daily", "acme"]))
        parts.append(rng.choice(SUBJECTS))
        if rng.random() < 0.4:
            parts.append(rng.choice(negations))
        else:
            parts.append(rng.choice(VERBS))
        for _ in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.25:
                parts.append(_case(rng, rng.choice(boosters)))
            elif r < 0.30:
                parts.append(rng.choice(["kind of", "sort of", "at least", "least", "very least", "no", "never so",
                                         "without doubt", "never this"]))
            parts.append(_case(rng, rng.choice(lexicon)))
        if rng.random() < 0.35:
            parts.append(rng.choice(CONNECTIVES))
            parts.append(rng.choice(VERBS))
            parts.append(_case(rng, rng.choice(boosters + [""])))
            parts.append(_case(rng, rng.choice(lexicon)))
        if rng.random() < 0.15:
            parts.append(rng.choice(idioms))
        if rng.random() < 0.3:
            parts.append(rng.choice(FILLERS))
        if rng.random() < 0.2:
            parts.append(rng.choice(URLS))
        if rng.random() < 0.25:
            parts.append("#" + rng.choice(["fail", "love", "blessed", "ad", "sponsored", "mondays", "Win"]))
        if rng.random() < 0.1:
            parts.append(rng.choice(ODD_WORDS))
        if rng.random() < 0.1:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(NON_ENGLISH))
        text = " ".join(p for p in parts if p)
        if rng.random() < 0.45:
            # Emoji inside words, between words and in runs, as posts have them.
            for _ in range(rng.randint(1, 3)):
                pos = rng.randrange(len(text) + 1)
                run = "".join(rng.choice(emoji_all) for _ in range(rng.randint(1, 3)))
                text = text[:pos] + run + text[pos:]
        if rng.random() < 0.1:
            pos = rng.randrange(len(text) + 1)
            text = text[:pos] + rng.choice(ODD_SPACES) + text[pos:]
        if rng.random() < 0.1:
            text = text.upper()
        text += rng.choice(TAILS)
        if rng.random() < 0.05:
            text = "  " + text + " \u00a0"
        posts.append(text)
    return posts


def sentences(generated=2600, per_source=None, seed=20140601):
    """The reference sentences, unique, in a fixed order."""
    rng = random.Random(seed)
    per_source = per_source or {"tweets_GroundTruth.txt": 1300, "movieReviewSnippets_GroundTruth.txt": 400,
                                "amazonReviewSnippets_GroundTruth.txt": 400, "nytEditorialSnippets_GroundTruth.txt": 400}
    out = list(PACKAGE_EXAMPLES) + list(NON_ENGLISH)
    resources = _sdist_resources()
    for name in sorted(per_source):
        pool = resources[name]
        out.extend(rng.sample(pool, min(per_source[name], len(pool))))
    out.extend(_generated(rng, generated))
    out.extend(["", " ", "!!!", "?", ":)", "😁", "no", "NO", "but", "kind of", "least"])
    seen = set()
    unique = []
    for text in out:
        if text not in seen and "\n" not in text and "\r" not in text:
            seen.add(text)
            unique.append(text)
    return unique
