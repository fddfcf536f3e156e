-- Every analyst field as a column (docs/stores.md). The enrichments'
-- fields are generated from `enrichments` (lists as JSON arrays); the key
-- phrases (a path SQLite's json_extract cannot select) and the KOL
-- factors are written by the sink (NULL on rows written before).
ALTER TABLE posts ADD COLUMN language_reliable INTEGER
    GENERATED ALWAYS AS (json_extract(enrichments, '$.language.reliable')) VIRTUAL;
ALTER TABLE posts ADD COLUMN hashtags TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.entities.hashtags')) VIRTUAL;
ALTER TABLE posts ADD COLUMN mentions TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.entities.mentions')) VIRTUAL;
ALTER TABLE posts ADD COLUMN cashtags TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.entities.cashtags')) VIRTUAL;
ALTER TABLE posts ADD COLUMN urls TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.entities.urls')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emoji TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.entities.emoji')) VIRTUAL;
ALTER TABLE posts ADD COLUMN brands TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.entities.brands')) VIRTUAL;
ALTER TABLE posts ADD COLUMN sentiment_neg REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.vader.neg')) VIRTUAL;
ALTER TABLE posts ADD COLUMN sentiment_neu REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.vader.neu')) VIRTUAL;
ALTER TABLE posts ADD COLUMN sentiment_pos REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.vader.pos')) VIRTUAL;
ALTER TABLE posts ADD COLUMN sentiment_model_negative REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.model.probabilities.negative')) VIRTUAL;
ALTER TABLE posts ADD COLUMN sentiment_model_neutral REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.model.probabilities.neutral')) VIRTUAL;
ALTER TABLE posts ADD COLUMN sentiment_model_positive REAL
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.model.probabilities.positive')) VIRTUAL;
ALTER TABLE posts ADD COLUMN emotion_ekman TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.emotion.ekman.dominant')) VIRTUAL;
ALTER TABLE posts ADD COLUMN topics TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.topics.categories')) VIRTUAL;
ALTER TABLE posts ADD COLUMN brand_safety_categories TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.brand_safety.flags')) VIRTUAL;
ALTER TABLE posts ADD COLUMN keyphrases TEXT;
CREATE INDEX posts_language ON posts (language);

ALTER TABLE kol_scores ADD COLUMN engagement_value REAL;
ALTER TABLE kol_scores ADD COLUMN engagement_weight REAL;
ALTER TABLE kol_scores ADD COLUMN engagement_effective_weight REAL;
ALTER TABLE kol_scores ADD COLUMN engagement_explanation TEXT;
ALTER TABLE kol_scores ADD COLUMN follower_quality_value REAL;
ALTER TABLE kol_scores ADD COLUMN follower_quality_weight REAL;
ALTER TABLE kol_scores ADD COLUMN follower_quality_effective_weight REAL;
ALTER TABLE kol_scores ADD COLUMN follower_quality_explanation TEXT;
ALTER TABLE kol_scores ADD COLUMN content_relevance_value REAL;
ALTER TABLE kol_scores ADD COLUMN content_relevance_weight REAL;
ALTER TABLE kol_scores ADD COLUMN content_relevance_effective_weight REAL;
ALTER TABLE kol_scores ADD COLUMN content_relevance_explanation TEXT;
ALTER TABLE kol_scores ADD COLUMN brand_safety_value REAL;
ALTER TABLE kol_scores ADD COLUMN brand_safety_weight REAL;
ALTER TABLE kol_scores ADD COLUMN brand_safety_effective_weight REAL;
ALTER TABLE kol_scores ADD COLUMN brand_safety_explanation TEXT;
ALTER TABLE kol_scores ADD COLUMN posting_consistency_value REAL;
ALTER TABLE kol_scores ADD COLUMN posting_consistency_weight REAL;
ALTER TABLE kol_scores ADD COLUMN posting_consistency_effective_weight REAL;
ALTER TABLE kol_scores ADD COLUMN posting_consistency_explanation TEXT;
ALTER TABLE kol_scores ADD COLUMN best_brief TEXT;
ALTER TABLE kol_scores ADD COLUMN brief_relevance TEXT; -- brief name -> relevance, JSON

-- Each author's newest score (the same columns as in ClickHouse and
-- PostgreSQL); `why` is its content relevance and engagement explanations.
DROP VIEW kol_latest;
CREATE VIEW kol_latest AS
SELECT author_id, id, platform, handle, computed_at, emitted_at, score, tier, followers, posts, factors, version,
       coalesce(content_relevance_explanation, '') || ' · ' || coalesce(engagement_explanation, '') AS why
FROM kol_scores k
WHERE computed_at = (SELECT max(computed_at) FROM kol_scores WHERE author_id = k.author_id);

-- Authors with their roster's rate and category and their newest KOL score.
CREATE VIEW author_profiles AS
SELECT a.id, a.platform, a.handle, a.name, a.followers, a.following, a.verified, a.rate, a.category,
       k.score AS kol_score, k.tier AS kol_tier
FROM authors a LEFT JOIN kol_latest k ON k.author_id = a.id;
