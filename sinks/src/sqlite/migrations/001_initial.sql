-- Tables analysts query; every table is keyed by the record id.
-- Times are RFC 3339 UTC text with milliseconds, so they sort as text.
CREATE TABLE posts (
    id          TEXT PRIMARY KEY,          -- <platform>:<native id>
    platform    TEXT NOT NULL,
    author_id   TEXT NOT NULL,             -- <platform>:<author id>
    text        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    likes       INTEGER,
    comments    INTEGER,
    shares      INTEGER,
    views       INTEGER,
    lang        TEXT,
    url         TEXT,
    payload     TEXT NOT NULL,             -- the whole post as JSON, unknown fields included
    enrichments TEXT NOT NULL,             -- stage name -> result, JSON
    version     INTEGER NOT NULL,          -- highest version wins
    ingest_time TEXT NOT NULL,
    deliveries  INTEGER NOT NULL DEFAULT 1 -- writes of this id, redeliveries included
);
CREATE INDEX posts_author ON posts (author_id);
CREATE INDEX posts_platform_created ON posts (platform, created_at);

CREATE TABLE authors (
    id         TEXT PRIMARY KEY,           -- <platform>:<author id>
    platform   TEXT NOT NULL,
    handle     TEXT,
    name       TEXT,
    followers  INTEGER,
    following  INTEGER,
    verified   INTEGER,
    updated_at TEXT NOT NULL               -- event time of the newest post seen
);

CREATE TABLE sheet_rows (
    id           TEXT PRIMARY KEY,         -- sheet:<file id>:<sheet>:<row key>
    file_id      TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    sheet        TEXT NOT NULL,
    row_key      TEXT NOT NULL,
    row_number   INTEGER NOT NULL,
    cells        TEXT NOT NULL,            -- header -> value, JSON
    content_hash TEXT NOT NULL,
    version      INTEGER NOT NULL,
    ingest_time  TEXT NOT NULL
);

CREATE TABLE kol_scores (
    id        TEXT PRIMARY KEY,            -- kol:<author id>:<as_of ms>
    author_id TEXT NOT NULL,
    platform  TEXT NOT NULL,
    score     REAL NOT NULL,
    tier      TEXT NOT NULL,
    factors   TEXT NOT NULL,               -- JSON list with value, weight, inputs, explanation
    as_of     TEXT NOT NULL,
    version   INTEGER NOT NULL
);
CREATE INDEX kol_scores_author ON kol_scores (author_id, as_of);
