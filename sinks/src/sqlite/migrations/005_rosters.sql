-- Creator rosters read from spreadsheets: a roster row names its author
-- (`sheet_rows.author_id`), and the author's row carries the roster's rate
-- and category beside what posts say.
ALTER TABLE sheet_rows ADD COLUMN author_id TEXT;
CREATE INDEX sheet_rows_author ON sheet_rows (author_id) WHERE author_id IS NOT NULL;
ALTER TABLE authors ADD COLUMN rate REAL;
ALTER TABLE authors ADD COLUMN category TEXT;
