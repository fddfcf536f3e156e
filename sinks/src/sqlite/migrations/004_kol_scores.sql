-- KOL scores as the kol stage writes them: `id` is <author id>@<computed_at>,
-- `computed_at` the event time of the newest post a score includes,
-- `emitted_at` the wall clock when it was emitted (a replay changes only it).
ALTER TABLE kol_scores RENAME COLUMN as_of TO computed_at;
ALTER TABLE kol_scores ADD COLUMN emitted_at TEXT;
ALTER TABLE kol_scores ADD COLUMN handle TEXT;
ALTER TABLE kol_scores ADD COLUMN followers INTEGER;
ALTER TABLE kol_scores ADD COLUMN posts INTEGER;
-- Each author's newest score (the index on author_id, computed_at serves it).
CREATE VIEW kol_latest AS
SELECT id, author_id, platform, handle, computed_at, emitted_at, score, tier, followers, posts, factors, version
FROM kol_scores k
WHERE computed_at = (SELECT max(computed_at) FROM kol_scores WHERE author_id = k.author_id);
