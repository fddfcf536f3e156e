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
echo "== socialpipe demo: examples/data/posts.jsonl -> embedded log -> language, entities, sentiment, emotion, intent, topics, brand safety -> sqlite"
echo "posts stored:   $(query 'SELECT count(*) FROM posts')"
echo "authors stored: $(query 'SELECT count(*) FROM authors')"
echo
echo "posts per platform:"
query "SELECT platform, count(*) FROM posts GROUP BY platform ORDER BY 2 DESC" | sed 's/^/  /'
echo
echo "top hashtags:"
query "SELECT lower(j.value), count(*) FROM posts, json_each(posts.enrichments, '\$.entities.hashtags') j GROUP BY 1 ORDER BY 2 DESC LIMIT 5" | sed 's/^/  /'
echo
echo "sentiment (VADER; unreliable = confidently not English):"
query "SELECT sentiment_label, count(*), sum(NOT sentiment_reliable) FROM posts GROUP BY 1 ORDER BY 2 DESC" | sed 's/^/  /'
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
echo "  $BIN topics --config $CONFIG"
echo "  $BIN dlq show --config $CONFIG posts"
echo "  $BIN tail --config $CONFIG enriched.posts --limit 3"
echo "run log: var/demo/run.log, counts: var/demo/report.json"
