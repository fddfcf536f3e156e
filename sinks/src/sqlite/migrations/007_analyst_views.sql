-- The analyst views, with the same names and columns as in ClickHouse and
-- PostgreSQL (docs/querying.md). Hours and days are UTC, as text.
CREATE VIEW sentiment_by_brand_hour AS
SELECT strftime('%Y-%m-%dT%H:00:00Z', p.created_at) AS hour, p.platform, b.value AS brand, count(*) AS posts,
       avg(p.sentiment_compound) AS avg_compound,
       sum(p.sentiment_label = 'positive') AS positive, sum(p.sentiment_label = 'neutral') AS neutral,
       sum(p.sentiment_label = 'negative') AS negative
FROM posts p, json_each(p.brands) b GROUP BY 1, 2, 3;

CREATE VIEW sentiment_by_hashtag_hour AS
SELECT strftime('%Y-%m-%dT%H:00:00Z', p.created_at) AS hour, p.platform, h.value AS hashtag, count(*) AS posts,
       avg(p.sentiment_compound) AS avg_compound,
       sum(p.sentiment_label = 'positive') AS positive, sum(p.sentiment_label = 'neutral') AS neutral,
       sum(p.sentiment_label = 'negative') AS negative
FROM posts p, json_each(p.hashtags) h GROUP BY 1, 2, 3;

CREATE VIEW emotion_by_brand_hour AS
SELECT strftime('%Y-%m-%dT%H:00:00Z', p.created_at) AS hour, p.platform, b.value AS brand, p.emotion, count(*) AS posts
FROM posts p, json_each(p.brands) b WHERE p.emotion IS NOT NULL GROUP BY 1, 2, 3, 4;

CREATE VIEW emotion_by_hashtag_hour AS
SELECT strftime('%Y-%m-%dT%H:00:00Z', p.created_at) AS hour, p.platform, h.value AS hashtag, p.emotion, count(*) AS posts
FROM posts p, json_each(p.hashtags) h WHERE p.emotion IS NOT NULL GROUP BY 1, 2, 3, 4;

CREATE VIEW intent_by_brand_day AS
SELECT substr(p.created_at, 1, 10) AS day, p.platform, b.value AS brand, p.intent, count(*) AS posts
FROM posts p, json_each(p.brands) b WHERE p.intent IS NOT NULL GROUP BY 1, 2, 3, 4;

-- A brand's posts that day over all brand mentions that day, per platform.
CREATE VIEW share_of_voice_day AS
SELECT day, platform, brand, posts, CAST(posts AS REAL) / sum(posts) OVER (PARTITION BY day, platform) AS share
FROM (
    SELECT substr(p.created_at, 1, 10) AS day, p.platform, b.value AS brand, count(*) AS posts
    FROM posts p, json_each(p.brands) b GROUP BY 1, 2, 3
);

-- Authors with a roster category and a score, with their rate and why.
CREATE VIEW kols_by_category AS
SELECT a.category, a.id AS author_id, a.handle, a.rate, k.score AS kol_score, k.tier AS kol_tier, k.why
FROM authors a JOIN kol_latest k ON k.author_id = a.id
WHERE a.category IS NOT NULL;
