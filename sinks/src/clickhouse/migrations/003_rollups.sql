-- Issue 22: the analyst views read materialised rollups, not FINAL scans
-- (docs/decisions/012-one-schema-for-analysts.md).
--
-- A materialised view sees only inserts, so the rollups are fed from a
-- ledger of each post's contribution: for a post's new version the sink
-- writes, in one INSERT, +1 with the new version's values and -1 with the
-- values of the version the ledger last counted (a deleted post gets only
-- the -1). A redelivered or older version finds a version at least as new
-- counted and writes nothing. Sums over the sign are then exact whatever
-- the merges did.
CREATE TABLE IF NOT EXISTS post_rollup_log (
    id                 String,
    version            UInt64,
    sign               Int8,                  -- +1 counted, -1 uncounted
    created_at         DateTime,
    platform           {lc},
    hashtags           Array(String),
    brands             Array(String),
    sentiment_label    {lc},                  -- '' when absent
    sentiment_compound Nullable(Float64),
    emotion            {lc},
    intent             {lc}
) ENGINE = ReplacingMergeTree
ORDER BY (id, version, sign);

CREATE TABLE IF NOT EXISTS brand_hour_rollup (
    hour            DateTime,
    platform        {lc},
    brand           String,
    sentiment_label {lc},
    emotion         {lc},
    intent          {lc},
    n               Int64,                    -- posts (signed sums)
    compound_sum    Float64,
    compound_n      Int64
) ENGINE = SummingMergeTree((n, compound_sum, compound_n))
ORDER BY (hour, platform, brand, sentiment_label, emotion, intent);

CREATE MATERIALIZED VIEW IF NOT EXISTS brand_hour_rollup_mv TO brand_hour_rollup AS
SELECT toStartOfHour(created_at, 'UTC') AS hour, platform, brand, sentiment_label, emotion, intent,
       toInt64(sign) AS n, sign * ifNull(sentiment_compound, 0) AS compound_sum,
       toInt64(sign * isNotNull(sentiment_compound)) AS compound_n
FROM post_rollup_log ARRAY JOIN brands AS brand;

CREATE TABLE IF NOT EXISTS hashtag_hour_rollup (
    hour            DateTime,
    platform        {lc},
    hashtag         String,
    sentiment_label {lc},
    emotion         {lc},
    n               Int64,
    compound_sum    Float64,
    compound_n      Int64
) ENGINE = SummingMergeTree((n, compound_sum, compound_n))
ORDER BY (hour, platform, hashtag, sentiment_label, emotion);

CREATE MATERIALIZED VIEW IF NOT EXISTS hashtag_hour_rollup_mv TO hashtag_hour_rollup AS
SELECT toStartOfHour(created_at, 'UTC') AS hour, platform, hashtag, sentiment_label, emotion,
       toInt64(sign) AS n, sign * ifNull(sentiment_compound, 0) AS compound_sum,
       toInt64(sign * isNotNull(sentiment_compound)) AS compound_n
FROM post_rollup_log ARRAY JOIN hashtags AS hashtag;

-- Posts stored before this migration, counted once (a second run finds
-- them counted).
INSERT INTO post_rollup_log
SELECT id, version, 1, created_at, platform, hashtags, brands, sentiment_label, toNullable(toFloat64(sentiment_compound)),
       emotion, ifNull(intent, '')
FROM posts FINAL
WHERE id NOT IN (SELECT id FROM post_rollup_log);

-- The views analysts query: the same names and columns as in PostgreSQL and SQLite.
DROP TABLE IF EXISTS sentiment_by_hashtag_hour;
DROP TABLE IF EXISTS sentiment_by_brand_hour;
DROP TABLE IF EXISTS emotion_by_hashtag_hour;
DROP TABLE IF EXISTS emotion_by_brand_hour;

CREATE VIEW IF NOT EXISTS sentiment_by_brand_hour AS
SELECT hour, platform, brand, sum(n) AS posts, sum(compound_sum) / nullIf(sum(compound_n), 0) AS avg_compound,
       sumIf(n, sentiment_label = 'positive') AS positive, sumIf(n, sentiment_label = 'neutral') AS neutral,
       sumIf(n, sentiment_label = 'negative') AS negative
FROM brand_hour_rollup GROUP BY hour, platform, brand HAVING posts != 0;

CREATE VIEW IF NOT EXISTS sentiment_by_hashtag_hour AS
SELECT hour, platform, hashtag, sum(n) AS posts, sum(compound_sum) / nullIf(sum(compound_n), 0) AS avg_compound,
       sumIf(n, sentiment_label = 'positive') AS positive, sumIf(n, sentiment_label = 'neutral') AS neutral,
       sumIf(n, sentiment_label = 'negative') AS negative
FROM hashtag_hour_rollup GROUP BY hour, platform, hashtag HAVING posts != 0;

CREATE VIEW IF NOT EXISTS emotion_by_brand_hour AS
SELECT hour, platform, brand, emotion, sum(n) AS posts
FROM brand_hour_rollup WHERE emotion != '' GROUP BY hour, platform, brand, emotion HAVING posts != 0;

CREATE VIEW IF NOT EXISTS emotion_by_hashtag_hour AS
SELECT hour, platform, hashtag, emotion, sum(n) AS posts
FROM hashtag_hour_rollup WHERE emotion != '' GROUP BY hour, platform, hashtag, emotion HAVING posts != 0;

CREATE VIEW IF NOT EXISTS intent_by_brand_day AS
SELECT toDate(hour, 'UTC') AS day, platform, brand, intent, sum(n) AS posts
FROM brand_hour_rollup WHERE intent != '' GROUP BY day, platform, brand, intent HAVING posts != 0;

-- A brand's posts that day over all brand mentions that day, per platform.
CREATE VIEW IF NOT EXISTS share_of_voice_day AS
SELECT day, platform, brand, posts, posts / total AS share
FROM (
    SELECT toDate(hour, 'UTC') AS day, platform, brand, sum(n) AS posts
    FROM brand_hour_rollup GROUP BY day, platform, brand HAVING posts != 0
) AS brands
ANY INNER JOIN (
    SELECT toDate(hour, 'UTC') AS day, platform, sum(n) AS total
    FROM brand_hour_rollup GROUP BY day, platform HAVING total != 0
) AS totals USING day, platform;

-- Authors with a roster category and a score, with their rate and why.
CREATE VIEW IF NOT EXISTS kols_by_category AS
SELECT category, author_id, handle, rate, kol_score, kol_tier, why
FROM (
    SELECT id AS author_id, handle, rate, category
    FROM author_profiles WHERE isNotNull(category)
) AS profiles
ANY INNER JOIN (
    SELECT author_id, score AS kol_score, tier AS kol_tier, why FROM kol_latest
) AS scores USING author_id;
