#!/usr/bin/env bash
# The quick start: run the bundled sample through the whole pipeline once,
# then summarise what the sink holds.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: demo.sh path/to/socialpipe}
CONFIG=examples/quickstart.toml
DB=var/demo/socialpipe.db

rm -rf var/demo
mkdir -p var/demo
"$BIN" validate --config "$CONFIG" --once
# Any free port for metrics: a one-shot run needs no fixed address.
SOCIALPIPE_HTTP=${SOCIALPIPE_HTTP:-127.0.0.1:0} "$BIN" run --config "$CONFIG" --once --report var/demo/report.json 2> var/demo/run.log

query() {
  if command -v sqlite3 >/dev/null; then sqlite3 -separator ' | ' "$DB" "$1"
  else python3 -c 'import sqlite3,sys; [print(" | ".join(map(str,r))) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]' "$DB" "$1"; fi
}

echo
echo "== socialpipe demo: examples/data/posts.jsonl -> embedded log -> language, entities, embed, sentiment, emotion, intent, topics, brand safety, kol -> sqlite"
echo "posts stored:   $(query 'SELECT count(*) FROM posts')"
echo "authors stored: $(query 'SELECT count(*) FROM authors')"
echo
echo "posts per platform:"
query "SELECT platform, count(*) FROM posts GROUP BY platform ORDER BY 2 DESC" | sed 's/^/  /'
echo
echo "top hashtags:"
query "SELECT lower(j.value), count(*) FROM posts, json_each(posts.enrichments, '\$.entities.hashtags') j GROUP BY 1 ORDER BY 2 DESC LIMIT 5" | sed 's/^/  /'
echo
echo "sentiment (combined label | posts | labelled by the learned model | by VADER | unreliable = confidently not English):"
query "SELECT sentiment_label, count(*), sum(sentiment_label_source = 'model'), sum(sentiment_label_source = 'vader'), sum(NOT sentiment_reliable) FROM posts GROUP BY 1 ORDER BY 2 DESC" | sed 's/^/  /'
echo "  model and VADER agree on $(query "SELECT count(*) FROM posts WHERE sentiment_model_label = json_extract(enrichments, '\$.sentiment.vader.label')") of $(query 'SELECT count(*) FROM posts WHERE sentiment_model_label IS NOT NULL') posts"
echo
echo "dominant emotion:"
query "SELECT emotion, count(*), round(avg(emotion_joy), 3) FROM posts GROUP BY 1 ORDER BY 2 DESC LIMIT 5" | sed 's/^/  /'
echo
echo "intent:"
query "SELECT intent, count(*) FROM posts GROUP BY 1 ORDER BY 2 DESC" | sed 's/^/  /'
echo
echo "brands by mentions, with average sentiment:"
query "SELECT j.value, count(*), round(avg(sentiment_compound), 3) FROM posts, json_each(posts.enrichments, '\$.entities.brands') j GROUP BY 1 ORDER BY 2 DESC LIMIT 5" | sed 's/^/  /'
echo
echo "posts not brand safe: $(query 'SELECT count(*) FROM posts WHERE NOT brand_safe')"
echo
echo "creator roster (examples/data/rosters/kols.xlsx): $(query "SELECT count(*) FROM sheet_rows WHERE author_id IS NOT NULL") rows; by category (creators | avg rate | avg followers):"
query "SELECT category, count(*), round(avg(rate)), round(avg(followers)) FROM authors WHERE category IS NOT NULL GROUP BY 1 ORDER BY 2 DESC" | sed 's/^/  /'
echo
echo "top KOLs (author | handle | tier | score 0-100 | posts in window), from $(query 'SELECT count(*) FROM kol_scores') scores kept as history:"
query "SELECT author_id, handle, tier, round(score, 1), posts FROM kol_latest ORDER BY score DESC LIMIT 5" | sed 's/^/  /'
TOP=$(query "SELECT author_id FROM kol_latest ORDER BY score DESC LIMIT 1")
echo
echo "why $TOP scores what it does:"
"$BIN" kol show --config "$CONFIG" "$TOP" | sed 's/^/  /'
echo
echo "nearest neighbours by embedding (cosine) of the first complaint:"
python3 - "$DB" <<'PY'
import sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
rows = [(t, struct.unpack("<384f", e)) for t, e in db.execute("SELECT text, embedding FROM posts WHERE embedding IS NOT NULL")]
query = db.execute("SELECT text, embedding FROM posts WHERE intent = 'complaint' AND embedding IS NOT NULL LIMIT 1").fetchone()
if query:
    q = struct.unpack("<384f", query[1])
    print(f"  {query[0][:90]}")
    # Vectors are unit length: the dot product is the cosine.
    best = sorted(((sum(a * b for a, b in zip(q, v)), t) for t, v in rows if t != query[0]), reverse=True)[:3]
    for score, text in best:
        print(f"    {score:.3f}  {text[:86]}")
PY
echo
echo "dead letters by reason (malformed input lines):"
"$BIN" dlq show --config "$CONFIG" posts --limit 1000 | python3 -c '
import collections, json, sys
reasons = collections.Counter(json.loads(l)["reason"] for l in sys.stdin if l.strip())
for reason, n in reasons.most_common():
    print(f"  {n:>4}  {reason}")
print(f"  {sum(reasons.values()):>4}  in total")'
echo
echo "explore:"
echo "  sqlite3 $DB \"SELECT author_id, count(*), sum(likes) FROM posts GROUP BY 1 ORDER BY 3 DESC LIMIT 10\""
echo "  sqlite3 $DB \"SELECT text, sentiment_compound, emotion, intent FROM posts WHERE intent = 'complaint' LIMIT 5\""
echo "  echo 'where can I buy the acme x2?' | $BIN analyze --config $CONFIG --text"
echo "  sqlite3 $DB \"SELECT author_id, handle, tier, round(score, 1) FROM kol_latest ORDER BY score DESC LIMIT 10\""
echo "  $BIN kol show --config $CONFIG $TOP"
echo "  $BIN topics --config $CONFIG"
echo "  $BIN dlq show --config $CONFIG posts"
echo "  $BIN tail --config $CONFIG enriched.posts --limit 3"
echo "run log: var/demo/run.log, counts: var/demo/report.json"
