-- Issue 22: every analyst field as a typed column (docs/stores.md). The
-- enrichments' fields are generated from `enrichments`, so they never
-- disagree with it and rows written before this migration have them too.

-- A JSON array of strings as text[] ('{}' for none); immutable, so generated
-- columns may use it.
CREATE FUNCTION jsonb_texts(items jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(item), '{}') FROM jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(items) = 'array' THEN items ELSE '[]'::jsonb END) AS item
$$;

ALTER TABLE posts
    ADD COLUMN language text GENERATED ALWAYS AS (enrichments #>> '{language,code}') STORED,
    ADD COLUMN language_reliable boolean GENERATED ALWAYS AS ((enrichments #>> '{language,reliable}')::boolean) STORED,
    ADD COLUMN cashtags text[] GENERATED ALWAYS AS (jsonb_texts(enrichments #> '{entities,cashtags}')) STORED,
    ADD COLUMN urls text[] GENERATED ALWAYS AS (jsonb_texts(enrichments #> '{entities,urls}')) STORED,
    ADD COLUMN emoji text[] GENERATED ALWAYS AS (jsonb_texts(enrichments #> '{entities,emoji}')) STORED,
    ADD COLUMN brands text[] GENERATED ALWAYS AS (jsonb_texts(enrichments #> '{entities,brands}')) STORED,
    ADD COLUMN sentiment_label text GENERATED ALWAYS AS (enrichments #>> '{sentiment,label}') STORED,
    ADD COLUMN sentiment_label_source text GENERATED ALWAYS AS (enrichments #>> '{sentiment,label_source}') STORED,
    ADD COLUMN sentiment_reliable boolean GENERATED ALWAYS AS ((enrichments #>> '{sentiment,reliable}')::boolean) STORED,
    ADD COLUMN sentiment_neg double precision GENERATED ALWAYS AS ((enrichments #>> '{sentiment,vader,neg}')::double precision) STORED,
    ADD COLUMN sentiment_neu double precision GENERATED ALWAYS AS ((enrichments #>> '{sentiment,vader,neu}')::double precision) STORED,
    ADD COLUMN sentiment_pos double precision GENERATED ALWAYS AS ((enrichments #>> '{sentiment,vader,pos}')::double precision) STORED,
    ADD COLUMN sentiment_compound double precision GENERATED ALWAYS AS ((enrichments #>> '{sentiment,vader,compound}')::double precision) STORED,
    ADD COLUMN sentiment_model_label text GENERATED ALWAYS AS (enrichments #>> '{sentiment,model,label}') STORED,
    ADD COLUMN sentiment_model_negative double precision GENERATED ALWAYS AS ((enrichments #>> '{sentiment,model,probabilities,negative}')::double precision) STORED,
    ADD COLUMN sentiment_model_neutral double precision GENERATED ALWAYS AS ((enrichments #>> '{sentiment,model,probabilities,neutral}')::double precision) STORED,
    ADD COLUMN sentiment_model_positive double precision GENERATED ALWAYS AS ((enrichments #>> '{sentiment,model,probabilities,positive}')::double precision) STORED,
    ADD COLUMN emotion text GENERATED ALWAYS AS (enrichments #>> '{emotion,dominant}') STORED,
    ADD COLUMN emotion_anger double precision GENERATED ALWAYS AS ((enrichments #>> '{emotion,scores,anger}')::double precision) STORED,
    ADD COLUMN emotion_anticipation double precision GENERATED ALWAYS AS ((enrichments #>> '{emotion,scores,anticipation}')::double precision) STORED,
    ADD COLUMN emotion_disgust double precision GENERATED ALWAYS AS ((enrichments #>> '{emotion,scores,disgust}')::double precision) STORED,
    ADD COLUMN emotion_fear double precision GENERATED ALWAYS AS ((enrichments #>> '{emotion,scores,fear}')::double precision) STORED,
    ADD COLUMN emotion_joy double precision GENERATED ALWAYS AS ((enrichments #>> '{emotion,scores,joy}')::double precision) STORED,
    ADD COLUMN emotion_sadness double precision GENERATED ALWAYS AS ((enrichments #>> '{emotion,scores,sadness}')::double precision) STORED,
    ADD COLUMN emotion_surprise double precision GENERATED ALWAYS AS ((enrichments #>> '{emotion,scores,surprise}')::double precision) STORED,
    ADD COLUMN emotion_trust double precision GENERATED ALWAYS AS ((enrichments #>> '{emotion,scores,trust}')::double precision) STORED,
    ADD COLUMN emotion_ekman text GENERATED ALWAYS AS (enrichments #>> '{emotion,ekman,dominant}') STORED,
    ADD COLUMN intent text GENERATED ALWAYS AS (enrichments #>> '{intent,label}') STORED,
    ADD COLUMN intent_confidence double precision GENERATED ALWAYS AS ((enrichments #>> '{intent,confidence}')::double precision) STORED,
    ADD COLUMN keyphrases text[] GENERATED ALWAYS AS (jsonb_texts(jsonb_path_query_array(enrichments, '$.topics.keywords[*].phrase'))) STORED,
    ADD COLUMN topics text[] GENERATED ALWAYS AS (jsonb_texts(enrichments #> '{topics,categories}')) STORED,
    ADD COLUMN brand_safety_score double precision GENERATED ALWAYS AS ((enrichments #>> '{brand_safety,score}')::double precision) STORED,
    ADD COLUMN brand_safe boolean GENERATED ALWAYS AS ((enrichments #>> '{brand_safety,safe}')::boolean) STORED,
    ADD COLUMN brand_safety_categories text[] GENERATED ALWAYS AS (jsonb_texts(enrichments #> '{brand_safety,flags}')) STORED;
CREATE INDEX posts_sentiment ON posts (sentiment_label, created_at);
CREATE INDEX posts_emotion ON posts (emotion, created_at);
CREATE INDEX posts_intent ON posts (intent, created_at);
CREATE INDEX posts_language ON posts (language);
CREATE INDEX posts_brands ON posts USING gin (brands);
CREATE INDEX posts_topics ON posts USING gin (topics);

-- Rosters: a roster row names its author, whose row carries the rate and category.
ALTER TABLE sheet_rows ADD COLUMN author_id text;
CREATE INDEX sheet_rows_author ON sheet_rows (author_id) WHERE author_id IS NOT NULL;
ALTER TABLE authors ADD COLUMN rate double precision, ADD COLUMN category text;

-- KOL scores as the kol stage writes them: `id` is <author id>@<computed_at>,
-- `computed_at` the event time of the newest post a score includes,
-- `emitted_at` the wall clock when it was emitted; each factor as columns.
DROP VIEW kol_scores_latest;
ALTER TABLE kol_scores RENAME COLUMN as_of TO computed_at;
ALTER INDEX kol_scores_author_as_of RENAME TO kol_scores_author_computed_at;
ALTER TABLE kol_scores
    ADD COLUMN emitted_at timestamptz,
    ADD COLUMN handle text,
    ADD COLUMN followers bigint,
    ADD COLUMN posts integer,
    ADD COLUMN engagement_value double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "engagement").value') #>> '{}')::double precision) STORED,
    ADD COLUMN engagement_weight double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "engagement").weight') #>> '{}')::double precision) STORED,
    ADD COLUMN engagement_effective_weight double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "engagement").effective_weight') #>> '{}')::double precision) STORED,
    ADD COLUMN engagement_explanation text GENERATED ALWAYS AS (jsonb_path_query_first(factors, '$[*] ? (@.name == "engagement").explanation') #>> '{}') STORED,
    ADD COLUMN follower_quality_value double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "follower_quality").value') #>> '{}')::double precision) STORED,
    ADD COLUMN follower_quality_weight double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "follower_quality").weight') #>> '{}')::double precision) STORED,
    ADD COLUMN follower_quality_effective_weight double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "follower_quality").effective_weight') #>> '{}')::double precision) STORED,
    ADD COLUMN follower_quality_explanation text GENERATED ALWAYS AS (jsonb_path_query_first(factors, '$[*] ? (@.name == "follower_quality").explanation') #>> '{}') STORED,
    ADD COLUMN content_relevance_value double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "content_relevance").value') #>> '{}')::double precision) STORED,
    ADD COLUMN content_relevance_weight double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "content_relevance").weight') #>> '{}')::double precision) STORED,
    ADD COLUMN content_relevance_effective_weight double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "content_relevance").effective_weight') #>> '{}')::double precision) STORED,
    ADD COLUMN content_relevance_explanation text GENERATED ALWAYS AS (jsonb_path_query_first(factors, '$[*] ? (@.name == "content_relevance").explanation') #>> '{}') STORED,
    ADD COLUMN brand_safety_value double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "brand_safety").value') #>> '{}')::double precision) STORED,
    ADD COLUMN brand_safety_weight double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "brand_safety").weight') #>> '{}')::double precision) STORED,
    ADD COLUMN brand_safety_effective_weight double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "brand_safety").effective_weight') #>> '{}')::double precision) STORED,
    ADD COLUMN brand_safety_explanation text GENERATED ALWAYS AS (jsonb_path_query_first(factors, '$[*] ? (@.name == "brand_safety").explanation') #>> '{}') STORED,
    ADD COLUMN posting_consistency_value double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "posting_consistency").value') #>> '{}')::double precision) STORED,
    ADD COLUMN posting_consistency_weight double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "posting_consistency").weight') #>> '{}')::double precision) STORED,
    ADD COLUMN posting_consistency_effective_weight double precision GENERATED ALWAYS AS ((jsonb_path_query_first(factors, '$[*] ? (@.name == "posting_consistency").effective_weight') #>> '{}')::double precision) STORED,
    ADD COLUMN posting_consistency_explanation text GENERATED ALWAYS AS (jsonb_path_query_first(factors, '$[*] ? (@.name == "posting_consistency").explanation') #>> '{}') STORED,
    ADD COLUMN best_brief text GENERATED ALWAYS AS (jsonb_path_query_first(factors, '$[*] ? (@.name == "content_relevance").inputs.brief') #>> '{}') STORED,
    ADD COLUMN brief_relevance jsonb GENERATED ALWAYS AS (jsonb_path_query_first(factors, '$[*] ? (@.name == "content_relevance").inputs.briefs')) STORED;

-- Each author's newest score (the same columns as in ClickHouse and SQLite);
-- `why` is its content relevance and engagement explanations.
CREATE VIEW kol_latest AS
    SELECT DISTINCT ON (author_id) author_id, id, platform, handle, computed_at, emitted_at, score, tier, followers,
           posts, factors, version,
           coalesce(content_relevance_explanation, '') || ' · ' || coalesce(engagement_explanation, '') AS why
    FROM kol_scores ORDER BY author_id, computed_at DESC;

-- Authors with their roster's rate and category and their newest KOL score.
CREATE VIEW author_profiles AS
    SELECT a.id, a.platform, a.handle, a.name, a.followers, a.following, a.verified, a.rate, a.category,
           k.score AS kol_score, k.tier AS kol_tier
    FROM authors a LEFT JOIN kol_latest k ON k.author_id = a.id;
