-- Issue 22: every analyst field as a typed column (docs/stores.md).
-- 18.16 has neither `ADD COLUMN IF NOT EXISTS` nor `RENAME COLUMN`, so a
-- statement under `-- only if column T.C exists|is missing` runs only when
-- the store is in that state (the sink asks system.columns): a migration
-- stopped half way runs again to its end. Run `socialpipe migrate` once
-- before starting workers (compose's `migrate` service does): the copy of
-- kol_scores is not safe against a second migrator running at once.

-- posts: the enrichments' fields. Rows written before keep them only in
-- `enrichments` (18.16 cannot read nested JSON) until a replay fills them.
-- only if column posts.language is missing
ALTER TABLE posts
    ADD COLUMN language Nullable(String),
    ADD COLUMN language_reliable Nullable(UInt8),
    ADD COLUMN cashtags Array(String),
    ADD COLUMN urls Array(String),
    ADD COLUMN emoji Array(String),
    ADD COLUMN sentiment_label_source Nullable(String),
    ADD COLUMN sentiment_reliable Nullable(UInt8),
    ADD COLUMN sentiment_neg Nullable(Float64),
    ADD COLUMN sentiment_neu Nullable(Float64),
    ADD COLUMN sentiment_pos Nullable(Float64),
    ADD COLUMN sentiment_model_label Nullable(String),
    ADD COLUMN sentiment_model_negative Nullable(Float64),
    ADD COLUMN sentiment_model_neutral Nullable(Float64),
    ADD COLUMN sentiment_model_positive Nullable(Float64),
    ADD COLUMN emotion_anger Nullable(Float64),
    ADD COLUMN emotion_anticipation Nullable(Float64),
    ADD COLUMN emotion_disgust Nullable(Float64),
    ADD COLUMN emotion_fear Nullable(Float64),
    ADD COLUMN emotion_joy Nullable(Float64),
    ADD COLUMN emotion_sadness Nullable(Float64),
    ADD COLUMN emotion_surprise Nullable(Float64),
    ADD COLUMN emotion_trust Nullable(Float64),
    ADD COLUMN emotion_ekman Nullable(String),
    ADD COLUMN intent Nullable(String),
    ADD COLUMN intent_confidence Nullable(Float64),
    ADD COLUMN keyphrases Array(String),
    ADD COLUMN topics Array(String),
    ADD COLUMN brand_safety_score Nullable(Float64),
    ADD COLUMN brand_safe Nullable(UInt8),
    ADD COLUMN brand_safety_categories Array(String);

-- sheet_rows: a roster row's author, rate and category.
-- only if column sheet_rows.author_id is missing
ALTER TABLE sheet_rows
    ADD COLUMN author_id Nullable(String),
    ADD COLUMN rate Nullable(Float64),
    ADD COLUMN category Nullable(String);

-- kol_scores: `as_of` becomes `computed_at` (it is in the sorting key, so
-- by copy: a new table, INSERT SELECT, RENAME TABLE), with the fields the
-- kol stage writes and each factor as columns.
DROP TABLE IF EXISTS kol_scores_latest;
-- only if column kol_scores.as_of_ms exists
DROP TABLE IF EXISTS kol_scores_002;
-- only if column kol_scores.as_of_ms exists
CREATE TABLE kol_scores_002 (
    id             String,                    -- <author id>@<computed_at>, as in every store
    author_id      String,
    platform       {lc},
    handle         Nullable(String),
    score          Float64,
    tier           {lc},
    followers      Nullable(UInt64),
    posts          Nullable(UInt32),
    factors        String,                    -- the factors as JSON, inputs included
    engagement_value Nullable(Float64),
    engagement_weight Nullable(Float64),
    engagement_effective_weight Nullable(Float64),
    engagement_explanation Nullable(String),
    follower_quality_value Nullable(Float64),
    follower_quality_weight Nullable(Float64),
    follower_quality_effective_weight Nullable(Float64),
    follower_quality_explanation Nullable(String),
    content_relevance_value Nullable(Float64),
    content_relevance_weight Nullable(Float64),
    content_relevance_effective_weight Nullable(Float64),
    content_relevance_explanation Nullable(String),
    brand_safety_value Nullable(Float64),
    brand_safety_weight Nullable(Float64),
    brand_safety_effective_weight Nullable(Float64),
    brand_safety_explanation Nullable(String),
    posting_consistency_value Nullable(Float64),
    posting_consistency_weight Nullable(Float64),
    posting_consistency_effective_weight Nullable(Float64),
    posting_consistency_explanation Nullable(String),
    best_brief     Nullable(String),
    brief_names    Array(String),             -- with brief_relevance: each brief's relevance
    brief_relevance Array(Float64),
    computed_at    DateTime,                  -- event time of the newest post scored
    computed_at_ms UInt64,
    emitted_at     Nullable(DateTime),        -- wall clock at emission
    emitted_at_ms  Nullable(UInt64),
    version        UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (platform, author_id, computed_at_ms, id);
-- only if column kol_scores.as_of_ms exists
INSERT INTO kol_scores_002 (id, author_id, platform, score, tier, factors, computed_at, computed_at_ms, version)
SELECT id, author_id, platform, score, tier, factors, as_of, as_of_ms, version FROM kol_scores;
-- only if column kol_scores.as_of_ms exists
RENAME TABLE kol_scores TO kol_scores_001, kol_scores_002 TO kol_scores;
DROP TABLE IF EXISTS kol_scores_001;


-- Each author's newest score (the same columns as in PostgreSQL and SQLite);
-- `why` is its content relevance and engagement explanations.
CREATE VIEW IF NOT EXISTS kol_latest AS
SELECT author_id, argMax(id, computed_at_ms) AS id, any(platform) AS platform, argMax(handle, computed_at_ms) AS handle,
       max(computed_at) AS computed_at, argMax(emitted_at, computed_at_ms) AS emitted_at,
       argMax(score, computed_at_ms) AS score, argMax(tier, computed_at_ms) AS tier,
       argMax(followers, computed_at_ms) AS followers, argMax(posts, computed_at_ms) AS posts,
       argMax(factors, computed_at_ms) AS factors, argMax(version, computed_at_ms) AS version,
       argMax(concat(ifNull(content_relevance_explanation, ''), ' · ', ifNull(engagement_explanation, '')), computed_at_ms) AS why
FROM kol_scores FINAL
GROUP BY author_id;

-- Authors with their roster's rate and category and their newest KOL score.
-- (18.16 joins fill a missing row with defaults, not NULLs: the `rostered`
-- and `scored` markers tell them apart.)
CREATE VIEW IF NOT EXISTS author_profiles AS
SELECT id, platform, handle, name, followers, following, verified,
       if(rostered = 1, rate, NULL) AS rate, if(rostered = 1, category, NULL) AS category,
       if(scored = 1, toNullable(kol_score), NULL) AS kol_score, if(scored = 1, toNullable(kol_tier), NULL) AS kol_tier
FROM (
    SELECT id, platform, handle, name, followers, following, verified, rostered, rate, category
    FROM authors FINAL
    ANY LEFT JOIN (
        SELECT assumeNotNull(author_id) AS id, toUInt8(1) AS rostered, argMax(rate, version) AS rate,
               argMax(category, version) AS category
        FROM sheet_rows FINAL WHERE isNotNull(author_id) GROUP BY id
    ) AS rosters USING id
) AS profiles
ANY LEFT JOIN (
    SELECT author_id AS id, toUInt8(1) AS scored, score AS kol_score, tier AS kol_tier FROM kol_latest
) AS scores USING id;
