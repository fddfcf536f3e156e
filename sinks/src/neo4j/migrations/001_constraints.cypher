-- Every statement is idempotent (IF NOT EXISTS).
CREATE CONSTRAINT author_handle_key IF NOT EXISTS FOR (a:Author) REQUIRE a.handle_key IS UNIQUE;
CREATE CONSTRAINT post_id IF NOT EXISTS FOR (p:Post) REQUIRE p.id IS UNIQUE;
CREATE CONSTRAINT hashtag_name IF NOT EXISTS FOR (h:Hashtag) REQUIRE h.name IS UNIQUE;
CREATE CONSTRAINT brand_name IF NOT EXISTS FOR (b:Brand) REQUIRE b.name IS UNIQUE;
CREATE CONSTRAINT sheet_row_id IF NOT EXISTS FOR (s:SheetRow) REQUIRE s.id IS UNIQUE;
CREATE INDEX author_id IF NOT EXISTS FOR (a:Author) ON (a.id);
CREATE INDEX post_created IF NOT EXISTS FOR (p:Post) ON (p.created_at);
CREATE INDEX post_platform IF NOT EXISTS FOR (p:Post) ON (p.platform);
