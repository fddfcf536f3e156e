-- The main scores of the text stages as typed columns (docs/record-schema.md).
-- Generated from `enrichments`, so they can never disagree with it, and rows
-- written before this migration have them at once; indexes make them fast
-- to filter and group on. NULL where the stage did not run.
ALTER TABLE posts ADD COLUMN language TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.language.code')) VIRTUAL;
ALTER TABLE posts ADD COLUMN sentiment_label TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.label')) VIRTUAL;
ALTER TABLE posts ADD COLUMN sentiment_compound REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.vader.compound')) VIRTUAL;
ALTER TABLE posts ADD COLUMN sentiment_reliable INTEGER
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.reliable')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emotion TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.emotion.dominant')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emotion_anger REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.emotion.scores.anger')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emotion_anticipation REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.emotion.scores.anticipation')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emotion_disgust REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.emotion.scores.disgust')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emotion_fear REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.emotion.scores.fear')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emotion_joy REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.emotion.scores.joy')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emotion_sadness REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.emotion.scores.sadness')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emotion_surprise REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.emotion.scores.surprise')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emotion_trust REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.emotion.scores.trust')) VIRTUAL;
ALTER TABLE posts ADD COLUMN intent TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.intent.label')) VIRTUAL;
ALTER TABLE posts ADD COLUMN intent_confidence REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.intent.confidence')) VIRTUAL;
ALTER TABLE posts ADD COLUMN brand_safety_score REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.brand_safety.score')) VIRTUAL;
ALTER TABLE posts ADD COLUMN brand_safe INTEGER
    GENERATED ALWAYS AS (json_extract(enrichments, '$.brand_safety.safe')) VIRTUAL;
CREATE INDEX posts_sentiment ON posts (sentiment_label, created_at);
CREATE INDEX posts_emotion ON posts (emotion, created_at);
CREATE INDEX posts_intent ON posts (intent, created_at);
