-- Times are DateTime (seconds) plus a milliseconds column: 18.x has no
-- DateTime64. Versions are UInt64, as ReplacingMergeTree needs there.
CREATE TABLE IF NOT EXISTS posts (
    id                 String,                -- <platform>:<native id>
    platform           {lc},
    author_id          String,                -- <platform>:<author id>
    author_handle      String,
    author_followers   Nullable(UInt64),
    text               String,
    lang               {lc},                  -- '' when unknown
    created_at         DateTime,
    created_at_ms      UInt64,                -- epoch milliseconds
    likes              Nullable(UInt64),
    comments           Nullable(UInt64),
    shares             Nullable(UInt64),
    views              Nullable(UInt64),
    hashtags           Array(String),         -- enrichments.entities.hashtags
    mentions           Array(String),
    brands             Array(String),         -- enrichments.entities.brands
    sentiment_label    {lc},                  -- enrichments.sentiment.label, '' when absent
    sentiment_compound Nullable(Float32),     -- enrichments.sentiment.vader.compound
    emotion            {lc},                  -- enrichments.emotion.dominant, '' when absent
    embedding          Array(Float32),        -- enrichments.embedding, [] when absent
    payload            String,                -- the whole post as JSON
    enrichments        String,                -- stage name -> result, JSON
    version            UInt64,                -- highest wins
    ingest_time        DateTime
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (platform, toDate(created_at), id);

CREATE TABLE IF NOT EXISTS authors (
    id            String,
    platform      {lc},
    handle        String,
    name          String,
    followers     Nullable(UInt64),
    following     Nullable(UInt64),
    verified      Nullable(UInt8),
    updated_at    DateTime,                   -- event time of the newest post seen
    updated_at_ms UInt64
) ENGINE = ReplacingMergeTree(updated_at_ms)
ORDER BY (platform, id);

CREATE TABLE IF NOT EXISTS kol_scores (
    id        String,                         -- kol:<author id>:<as_of ms>
    author_id String,
    platform  {lc},
    score     Float64,
    tier      {lc},
    factors   String,                         -- JSON list with value, weight, inputs, explanation
    as_of     DateTime,
    as_of_ms  UInt64,
    version   UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (platform, author_id, as_of_ms, id);

CREATE TABLE IF NOT EXISTS sheet_rows (
    id           String,                      -- sheet:<file id>:<sheet>:<row key>
    file_id      String,
    file_name    String,
    sheet        String,
    row_key      String,
    row_number   UInt64,
    cells        String,                      -- header -> value, JSON
    content_hash String,
    version      UInt64,
    ingest_time  DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY (file_id, sheet, row_key);

-- The newest score of each author.
CREATE VIEW IF NOT EXISTS kol_scores_latest AS
SELECT author_id, platform, argMax(score, as_of_ms) AS score, argMax(tier, as_of_ms) AS tier,
       argMax(factors, as_of_ms) AS factors, max(as_of) AS as_of
FROM kol_scores FINAL
GROUP BY author_id, platform;

{views}
