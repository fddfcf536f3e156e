-- Issue 22: the analyst views, with the same names and columns as in
-- ClickHouse and SQLite (docs/querying.md). Hours and days are UTC.
CREATE VIEW sentiment_by_brand_hour AS
SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AS hour, platform, brand, count(*) AS posts,
       avg(sentiment_compound) AS avg_compound,
       count(*) FILTER (WHERE sentiment_label = 'positive') AS positive,
       count(*) FILTER (WHERE sentiment_label = 'neutral') AS neutral,
       count(*) FILTER (WHERE sentiment_label = 'negative') AS negative
FROM posts, unnest(brands) AS brand GROUP BY 1, 2, 3;

CREATE VIEW sentiment_by_hashtag_hour AS
SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AS hour, platform, hashtag, count(*) AS posts,
       avg(sentiment_compound) AS avg_compound,
       count(*) FILTER (WHERE sentiment_label = 'positive') AS positive,
       count(*) FILTER (WHERE sentiment_label = 'neutral') AS neutral,
       count(*) FILTER (WHERE sentiment_label = 'negative') AS negative
FROM posts, unnest(hashtags) AS hashtag GROUP BY 1, 2, 3;

CREATE VIEW emotion_by_brand_hour AS
SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AS hour, platform, brand, emotion, count(*) AS posts
FROM posts, unnest(brands) AS brand WHERE emotion IS NOT NULL GROUP BY 1, 2, 3, 4;

CREATE VIEW emotion_by_hashtag_hour AS
SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AS hour, platform, hashtag, emotion, count(*) AS posts
FROM posts, unnest(hashtags) AS hashtag WHERE emotion IS NOT NULL GROUP BY 1, 2, 3, 4;

CREATE VIEW intent_by_brand_day AS
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, platform, brand, intent, count(*) AS posts
FROM posts, unnest(brands) AS brand WHERE intent IS NOT NULL GROUP BY 1, 2, 3, 4;

-- A brand's posts that day over all brand mentions that day, per platform.
CREATE VIEW share_of_voice_day AS
SELECT day, platform, brand, posts, posts::double precision / sum(posts) OVER (PARTITION BY day, platform) AS share
FROM (
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, platform, brand, count(*) AS posts
    FROM posts, unnest(brands) AS brand GROUP BY 1, 2, 3
) AS brands;

-- Authors with a roster category and a score, with their rate and why.
CREATE VIEW kols_by_category AS
SELECT a.category, a.id AS author_id, a.handle, a.rate, k.score AS kol_score, k.tier AS kol_tier, k.why
FROM authors a JOIN kol_latest k ON k.author_id = a.id
WHERE a.category IS NOT NULL;
