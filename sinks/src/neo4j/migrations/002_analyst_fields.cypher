-- Every analyst field as a property (docs/stores.md), idempotently.
-- A post's combined sentiment label is `sentiment_label`, as in every store.
MATCH (p:Post) WHERE p.sentiment IS NOT NULL SET p.sentiment_label = p.sentiment REMOVE p.sentiment;
-- An author's newest KOL score is as of `kol_computed_at` (was `kol_as_of`).
MATCH (a:Author) WHERE a.kol_as_of_ms IS NOT NULL
SET a.kol_computed_at = a.kol_as_of, a.kol_computed_at_ms = a.kol_as_of_ms REMOVE a.kol_as_of, a.kol_as_of_ms;
CREATE INDEX post_sentiment IF NOT EXISTS FOR (p:Post) ON (p.sentiment_label);
CREATE INDEX post_emotion IF NOT EXISTS FOR (p:Post) ON (p.emotion);
CREATE INDEX post_intent IF NOT EXISTS FOR (p:Post) ON (p.intent);
