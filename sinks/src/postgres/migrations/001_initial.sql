-- Tables analysts query; every table is keyed by the record id. Times are
-- timestamptz (UTC); whole records and enrichments are jsonb.
CREATE TABLE authors (
    id         text PRIMARY KEY,              -- <platform>:<author id>
    platform   text NOT NULL,
    handle     text,
    name       text,
    followers  bigint,
    following  bigint,
    verified   boolean,
    updated_at timestamptz NOT NULL           -- event time of the newest post seen
);
CREATE INDEX authors_platform_handle ON authors (platform, lower(handle));

CREATE TABLE posts (
    id          text PRIMARY KEY,             -- <platform>:<native id>
    platform    text NOT NULL,
    author_id   text NOT NULL,                -- authors.id
    text        text NOT NULL,
    created_at  timestamptz NOT NULL,
    likes       bigint,
    comments    bigint,
    shares      bigint,
    views       bigint,
    lang        text,
    url         text,
    hashtags    text[] NOT NULL DEFAULT '{}', -- enrichments.entities.hashtags
    mentions    text[] NOT NULL DEFAULT '{}', -- enrichments.entities.mentions
    embedding   real[],                       -- enrichments.embedding (no pgvector here)
    payload     jsonb NOT NULL,               -- the whole post, unknown fields included
    enrichments jsonb NOT NULL,               -- stage name -> result
    version     bigint NOT NULL,              -- highest version wins
    ingest_time timestamptz NOT NULL,
    deliveries  integer NOT NULL DEFAULT 1    -- writes of this id, redeliveries included
);
CREATE INDEX posts_author_created ON posts (author_id, created_at);
CREATE INDEX posts_platform_created ON posts (platform, created_at);
CREATE INDEX posts_hashtags ON posts USING gin (hashtags);

CREATE TABLE sheet_rows (
    id           text PRIMARY KEY,            -- sheet:<file id>:<sheet>:<row key>
    file_id      text NOT NULL,
    file_name    text NOT NULL,
    sheet        text NOT NULL,
    row_key      text NOT NULL,
    row_number   bigint NOT NULL,
    cells        jsonb NOT NULL,              -- header -> value
    content_hash text NOT NULL,
    version      bigint NOT NULL,
    ingest_time  timestamptz NOT NULL
);
CREATE INDEX sheet_rows_file ON sheet_rows (file_id, sheet, row_number);

-- Every score an author ever had (history); kol_scores_latest is the newest.
CREATE TABLE kol_scores (
    id        text PRIMARY KEY,               -- kol:<author id>:<as_of ms>
    author_id text NOT NULL,
    platform  text NOT NULL,
    score     double precision NOT NULL,      -- 0-100
    tier      text NOT NULL,
    factors   jsonb NOT NULL,                 -- list of {name, value, weight, inputs, explanation}
    as_of     timestamptz NOT NULL,
    version   bigint NOT NULL
);
CREATE INDEX kol_scores_author_as_of ON kol_scores (author_id, as_of DESC);
CREATE VIEW kol_scores_latest AS
    SELECT DISTINCT ON (author_id) * FROM kol_scores ORDER BY author_id, as_of DESC;
