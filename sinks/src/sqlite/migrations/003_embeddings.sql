-- The embed stage's vector in a column of its own: a BLOB of 384
-- little-endian f32 (1,536 bytes; NULL when the stage did not run), kept
-- out of `enrichments`, whose JSON it would otherwise triple. Rows written
-- before this migration keep theirs inside `enrichments`.
ALTER TABLE posts ADD COLUMN embedding BLOB;
-- The learned sentiment head's label and which scorer the combined label
-- came from (docs/record-schema.md).
ALTER TABLE posts ADD COLUMN sentiment_model_label TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.model.label')) VIRTUAL;
ALTER TABLE posts ADD COLUMN sentiment_label_source TEXT
    GENERATED ALWAYS AS (json_extract(enrichments, '$.sentiment.label_source')) VIRTUAL;
