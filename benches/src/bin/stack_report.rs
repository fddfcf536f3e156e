//! What the four analyst stores hold after `make stack-demo`, next to the
//! SQLite quick start run on the same input: per store the posts, authors,
//! KOL scores (every score, and each author's newest) and sheet rows, and
//! three analyst answers. Exits non-zero when a count differs from the
//! reference's.
//!
//! The stores are the ones `examples/production.toml` names, from the same
//! environment variables and defaults. Neo4j's database is shared with the
//! tests, so there only the reference's ids are counted.
//!
//! usage: stack_report --reference quickstart.db     (report and compare)
//!        stack_report --reset                       (drop the ClickHouse database,
//!                                                    PostgreSQL schema and MongoDB database)

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};

/// Where the stores are: production.toml's variables and defaults.
struct Stores {
    clickhouse_url: String,
    clickhouse_database: String,
    postgres_url: String,
    postgres_schema: String,
    mongodb_uri: String,
    neo4j_uri: String,
    neo4j_user: String,
    neo4j_password: String,
    neo4j_database: String,
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

impl Stores {
    fn from_env() -> Self {
        Stores {
            clickhouse_url: env("CLICKHOUSE_URL", "http://127.0.0.1:8123"),
            clickhouse_database: env("CLICKHOUSE_DATABASE", "socialpipe"),
            postgres_url: env("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
            postgres_schema: env("POSTGRES_SCHEMA", "socialpipe"),
            mongodb_uri: env("MONGODB_URI", "mongodb://127.0.0.1:27017/socialpipe?directConnection=true"),
            neo4j_uri: env("NEO4J_URI", "bolt://127.0.0.1:7687"),
            neo4j_user: env("NEO4J_USER", "root"),
            neo4j_password: env("NEO4J_PASSWORD", "playwithdata"),
            neo4j_database: env("NEO4J_DATABASE", "kol"),
        }
    }

    fn clickhouse(&self) -> clickhouse::Client {
        clickhouse::Client::default().with_url(&self.clickhouse_url).with_validation(false)
    }

    async fn postgres(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = tokio_postgres::connect(&self.postgres_url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(&format!("SET search_path TO \"{}\"", self.postgres_schema)).await?;
        Ok(client)
    }

    async fn mongodb(&self) -> Result<mongodb::Database> {
        let client = mongodb::Client::with_uri_str(&self.mongodb_uri).await?;
        client.default_database().context("MONGODB_URI names no database")
    }

    async fn neo4j(&self) -> Result<neo4rs::Graph> {
        let config = neo4rs::ConfigBuilder::default()
            .uri(&self.neo4j_uri)
            .user(&self.neo4j_user)
            .password(&self.neo4j_password)
            .db(self.neo4j_database.as_str())
            .build()?;
        Ok(neo4rs::Graph::connect(config).await?)
    }

    async fn reset(&self) -> Result<()> {
        let db = &self.clickhouse_database;
        self.clickhouse().query(&format!("DROP DATABASE IF EXISTS {db}")).execute().await?;
        let (pg, connection) = tokio_postgres::connect(&self.postgres_url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        pg.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.postgres_schema)).await?;
        self.mongodb().await?.drop().await?;
        Ok(())
    }
}

/// What one store holds.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Counts {
    posts: u64,
    authors: u64,
    scores: u64,
    latest_scores: u64,
    sheet_rows: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "posts={} authors={} kol_scores={} (authors scored {}) sheet_rows={}",
            self.posts, self.authors, self.scores, self.latest_scores, self.sheet_rows
        )
    }
}

/// The quick start's SQLite database: counts and the ids Neo4j is asked about.
struct Reference {
    counts: Counts,
    post_ids: Vec<String>,
    author_ids: Vec<String>,
    sheet_ids: Vec<String>,
}

fn reference(path: &str) -> Result<Reference> {
    let db = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {path}"))?;
    let ids = |sql: &str| -> Result<Vec<String>> {
        let mut statement = db.prepare(sql)?;
        let rows = statement.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let count = |sql: &str| -> Result<u64> { Ok(db.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
    let (post_ids, author_ids, sheet_ids) =
        (ids("SELECT id FROM posts")?, ids("SELECT id FROM authors")?, ids("SELECT id FROM sheet_rows")?);
    let counts = Counts {
        posts: post_ids.len() as u64,
        authors: author_ids.len() as u64,
        scores: count("SELECT count(*) FROM kol_scores")?,
        latest_scores: count("SELECT count(*) FROM kol_latest")?,
        sheet_rows: sheet_ids.len() as u64,
    };
    println!("sqlite (quick start, reference)\n  {counts}");
    sqlite_answers(&db)?;
    Ok(Reference { counts, post_ids, author_ids, sheet_ids })
}

fn sqlite_answers(db: &rusqlite::Connection) -> Result<()> {
    let mut top = db.prepare(TOP_KOLS)?;
    let rows = top.query_map([], |r| {
        Ok(kol_line(
            &r.get::<_, String>(0)?,
            &r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            r.get(2)?,
            r.get(3)?,
            &r.get::<_, String>(4)?,
            Some(&r.get::<_, String>(5)?),
        ))
    })?;
    answer("top KOLs by category (rate, why)", rows.collect::<Result<Vec<_>, _>>()?);
    let mut mood = db.prepare(MOOD_BY_BRAND_DAY)?;
    let rows = mood.query_map([], |r| {
        Ok(mood_line(
            &r.get::<_, String>(0)?,
            &r.get::<_, String>(1)?,
            [r.get(2)?, r.get(3)?, r.get(4)?],
            Some(&r.get::<_, Option<String>>(5)?.unwrap_or_default()),
        ))
    })?;
    answer("sentiment and emotion per brand per day (busiest)", rows.collect::<Result<Vec<_>, _>>()?);
    let mut voice = db.prepare(SHARE_OF_VOICE)?;
    let rows = voice.query_map([], |r| Ok(voice_line(&r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
    answer("share of voice per brand", rows.collect::<Result<Vec<_>, _>>()?);
    Ok(())
}

// The analyst questions, in the dialect PostgreSQL and SQLite share.
const TOP_KOLS: &str = "SELECT category, handle, rate, kol_score, kol_tier, why FROM (
    SELECT *, row_number() OVER (PARTITION BY category ORDER BY kol_score DESC, author_id) AS rank FROM kols_by_category) t
  WHERE rank <= 2 ORDER BY category, rank";
const MOOD_BY_BRAND_DAY: &str = "SELECT CAST(s.day AS TEXT), s.brand, s.posts, s.positive, s.negative,
    (SELECT e.emotion FROM emotion_by_brand_hour e WHERE e.brand = s.brand AND substr(CAST(e.hour AS TEXT), 1, 10) = CAST(s.day AS TEXT)
     GROUP BY e.emotion ORDER BY sum(e.posts) DESC, e.emotion LIMIT 1)
  FROM (SELECT substr(CAST(hour AS TEXT), 1, 10) AS day, brand, CAST(sum(posts) AS BIGINT) AS posts,
               CAST(sum(positive) AS BIGINT) AS positive, CAST(sum(negative) AS BIGINT) AS negative
        FROM sentiment_by_brand_hour GROUP BY 1, 2) s
  ORDER BY s.posts DESC, s.day, s.brand LIMIT 3";
const SHARE_OF_VOICE: &str = "SELECT brand, CAST(sum(posts) AS BIGINT) AS posts,
    100.0 * sum(posts) / (SELECT sum(posts) FROM share_of_voice_day)
  FROM share_of_voice_day GROUP BY brand ORDER BY 2 DESC, 1 LIMIT 4";

// One line per answer, the same in every store's section; a store that
// keeps no `why` or emotion there leaves it out.
fn kol_line(category: &str, handle: &str, rate: Option<f64>, score: f64, tier: &str, why: Option<&str>) -> String {
    let rate = rate.map_or("-".into(), |v| format!("{v:.0}"));
    let line = format!("{category:<8} {handle:<16} rate {rate:>7} score {score:>5.1} {tier:<6}");
    match why {
        Some(why) => format!("{line} {why}"),
        None => line,
    }
}

fn mood_line(day: &str, brand: &str, [posts, positive, negative]: [i64; 3], emotion: Option<&str>) -> String {
    let line = format!("{day} {brand:<18} posts {posts:>3} positive {positive:>3} negative {negative:>3}");
    match emotion {
        Some(emotion) => format!("{line} top emotion {emotion}"),
        None => line,
    }
}

fn voice_line(brand: &str, posts: i64, pct: f64) -> String {
    format!("{brand:<18} {posts:>4} posts {pct:>5.1} %")
}

fn answer(question: &str, lines: Vec<String>) {
    println!("  {question}:");
    for line in lines {
        println!("    {line}");
    }
}

async fn clickhouse_counts(stores: &Stores) -> Result<Counts> {
    let ch = stores.clickhouse().with_database(&stores.clickhouse_database);
    let count = async |sql: &str| -> Result<u64> { Ok(ch.query(sql).fetch_one::<u64>().await?) };
    let counts = Counts {
        posts: count("SELECT count() FROM posts FINAL").await?,
        authors: count("SELECT count() FROM authors FINAL").await?,
        scores: count("SELECT count() FROM kol_scores FINAL").await?,
        latest_scores: count("SELECT count() FROM kol_latest").await?,
        sheet_rows: count("SELECT count() FROM sheet_rows FINAL").await?,
    };
    println!("clickhouse\n  {counts}");
    // Rows as JSON: the views' Nullable columns differ between releases.
    let rows = async |sql: &str| -> Result<Vec<serde_json::Value>> {
        let bytes = ch
            .query(sql)
            .with_setting("output_format_json_quote_64bit_integers", "0")
            .fetch_bytes("JSONEachRow")?
            .collect()
            .await?;
        Ok(String::from_utf8(bytes.to_vec())?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?)
    };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let top = rows(
        "SELECT category, handle, rate, kol_score, kol_tier, why FROM kols_by_category
         ORDER BY category, kol_score DESC, author_id LIMIT 2 BY category",
    )
    .await?;
    answer(
        "top KOLs by category (rate, why)",
        top.iter()
            .map(|r| {
                kol_line(
                    &text(&r["category"]),
                    &text(&r["handle"]),
                    r["rate"].as_f64(),
                    r["kol_score"].as_f64().unwrap_or_default(),
                    &text(&r["kol_tier"]),
                    Some(&text(&r["why"])),
                )
            })
            .collect(),
    );
    let mood = rows(
        "SELECT toString(day) AS date, brand, posts, positive, negative, emotion FROM (
           SELECT toDate(hour, 'UTC') AS day, brand, sum(posts) AS posts, sum(positive) AS positive,
                  sum(negative) AS negative
           FROM sentiment_by_brand_hour GROUP BY day, brand) AS s
         ANY LEFT JOIN (
           SELECT day, brand, argMax(emotion, (n, emotion)) AS emotion FROM (
             SELECT toDate(hour, 'UTC') AS day, brand, emotion, sum(posts) AS n
             FROM emotion_by_brand_hour GROUP BY day, brand, emotion) GROUP BY day, brand) AS e
         USING day, brand
         ORDER BY posts DESC, day, brand LIMIT 3",
    )
    .await?;
    answer(
        "sentiment and emotion per brand per day (busiest)",
        mood.iter()
            .map(|r| {
                let count = |field: &str| r[field].as_i64().unwrap_or_default();
                mood_line(
                    &text(&r["date"]),
                    &text(&r["brand"]),
                    [count("posts"), count("positive"), count("negative")],
                    Some(&text(&r["emotion"])),
                )
            })
            .collect(),
    );
    let voice = rows(
        "SELECT brand, sum(posts) AS n, 100 * n / (SELECT sum(posts) FROM share_of_voice_day) AS pct
         FROM share_of_voice_day GROUP BY brand ORDER BY n DESC, brand LIMIT 4",
    )
    .await?;
    answer(
        "share of voice per brand",
        voice
            .iter()
            .map(|r| {
                voice_line(
                    &text(&r["brand"]),
                    r["n"].as_i64().unwrap_or_default(),
                    r["pct"].as_f64().unwrap_or_default(),
                )
            })
            .collect(),
    );
    Ok(counts)
}

async fn postgres_counts(stores: &Stores) -> Result<Counts> {
    let pg = stores.postgres().await?;
    let count = async |sql: &str| -> Result<u64> { Ok(pg.query_one(sql, &[]).await?.get::<_, i64>(0) as u64) };
    let counts = Counts {
        posts: count("SELECT count(*) FROM posts").await?,
        authors: count("SELECT count(*) FROM authors").await?,
        scores: count("SELECT count(*) FROM kol_scores").await?,
        latest_scores: count("SELECT count(*) FROM kol_latest").await?,
        sheet_rows: count("SELECT count(*) FROM sheet_rows").await?,
    };
    println!("postgres\n  {counts}");
    let lines =
        |rows: Vec<tokio_postgres::Row>, f: &dyn Fn(&tokio_postgres::Row) -> String| rows.iter().map(f).collect();
    let top = pg.query(TOP_KOLS, &[]).await?;
    answer(
        "top KOLs by category (rate, why)",
        lines(top, &|r| {
            kol_line(
                r.get(0),
                r.get::<_, Option<&str>>(1).unwrap_or_default(),
                r.get(2),
                r.get(3),
                r.get(4),
                Some(r.get(5)),
            )
        }),
    );
    let mood = pg.query(MOOD_BY_BRAND_DAY, &[]).await?;
    answer(
        "sentiment and emotion per brand per day (busiest)",
        lines(mood, &|r| {
            mood_line(
                r.get(0),
                r.get(1),
                [r.get(2), r.get(3), r.get(4)],
                Some(r.get::<_, Option<&str>>(5).unwrap_or_default()),
            )
        }),
    );
    let voice = pg.query(&SHARE_OF_VOICE.replace("100.0 *", "100.0::float8 *"), &[]).await?;
    answer("share of voice per brand", lines(voice, &|r| voice_line(r.get(0), r.get(1), r.get(2))));
    Ok(counts)
}

async fn mongodb_counts(stores: &Stores) -> Result<Counts> {
    let db = stores.mongodb().await?;
    let count = async |collection: &str| -> Result<u64> {
        Ok(db.collection::<Document>(collection).count_documents(doc! {}).await?)
    };
    let latest = db.collection::<Document>("kol_scores").distinct("author_id", doc! {}).await?.len() as u64;
    let counts = Counts {
        posts: count("posts").await?,
        authors: count("authors").await?,
        scores: count("kol_scores").await?,
        latest_scores: latest,
        sheet_rows: count("sheet_rows").await?,
    };
    println!("mongodb\n  {counts}");
    let aggregate = async |collection: &str, pipeline: Vec<Document>| -> Result<Vec<Document>> {
        Ok(db.collection::<Document>(collection).aggregate(pipeline).await?.try_collect().await?)
    };
    let top = aggregate(
        "authors",
        vec![
            doc! {"$match": {"category": {"$ne": null}, "kol_score": {"$ne": null}}},
            doc! {"$sort": {"category": 1, "kol_score": -1, "_id": 1}},
            doc! {"$group": {"_id": "$category", "top": {"$push": {"handle": "$handle", "rate": "$rate", "score": "$kol_score", "tier": "$kol_tier"}}}},
            doc! {"$sort": {"_id": 1}},
        ],
    )
    .await?;
    let mut lines = Vec::new();
    for group in top {
        for kol in group.get_array("top")?.iter().take(2).filter_map(|k| k.as_document()) {
            lines.push(kol_line(
                group.get_str("_id")?,
                kol.get_str("handle").unwrap_or(""),
                kol.get_f64("rate").ok(),
                kol.get_f64("score").unwrap_or(0.0),
                kol.get_str("tier").unwrap_or(""),
                None,
            ));
        }
    }
    answer("top KOLs by category (rate)", lines);
    let mood = aggregate(
        "posts",
        vec![
            doc! {"$unwind": "$enrichments.entities.brands"},
            doc! {"$group": {
                "_id": {"day": {"$dateToString": {"format": "%Y-%m-%d", "date": "$created_at"}}, "brand": "$enrichments.entities.brands"},
                "posts": {"$sum": 1},
                "positive": {"$sum": {"$cond": [{"$eq": ["$enrichments.sentiment.label", "positive"]}, 1, 0]}},
                "negative": {"$sum": {"$cond": [{"$eq": ["$enrichments.sentiment.label", "negative"]}, 1, 0]}},
            }},
            doc! {"$sort": {"posts": -1, "_id.day": 1, "_id.brand": 1}},
            doc! {"$limit": 3},
        ],
    )
    .await?;
    let line = |d: &Document| -> Result<String> {
        let key = d.get_document("_id")?;
        Ok(mood_line(
            key.get_str("day")?,
            key.get_str("brand")?,
            [number(d, "posts"), number(d, "positive"), number(d, "negative")],
            None,
        ))
    };
    answer("sentiment per brand per day (busiest)", mood.iter().map(line).collect::<Result<_>>()?);
    let voice = aggregate(
        "posts",
        vec![
            doc! {"$unwind": "$enrichments.entities.brands"},
            doc! {"$group": {"_id": "$enrichments.entities.brands", "posts": {"$sum": 1}}},
            doc! {"$sort": {"posts": -1, "_id": 1}},
        ],
    )
    .await?;
    let total: i64 = voice.iter().map(|d| number(d, "posts")).sum();
    answer(
        "share of voice per brand",
        voice
            .iter()
            .take(4)
            .map(|d| {
                let posts = number(d, "posts");
                voice_line(d.get_str("_id").unwrap_or(""), posts, 100.0 * posts as f64 / total as f64)
            })
            .collect(),
    );
    Ok(counts)
}

fn number(d: &Document, key: &str) -> i64 {
    d.get_i64(key).or_else(|_| d.get_i32(key).map(i64::from)).unwrap_or(0)
}

async fn neo4j_counts(stores: &Stores, reference: &Reference) -> Result<Counts> {
    let graph = stores.neo4j().await?;
    let count = async |cypher: &str, ids: &[String]| -> Result<u64> {
        let mut rows = graph.execute(neo4rs::query(cypher).param("ids", ids.to_vec())).await?;
        let mut n = 0;
        while let Some(row) = rows.next().await? {
            n = row.get::<i64>("n")?;
        }
        Ok(n as u64)
    };
    let latest = count(
        "MATCH (a:Author) WHERE a.id IN $ids AND a.kol_score IS NOT NULL RETURN count(DISTINCT a.id) AS n",
        &reference.author_ids,
    )
    .await?;
    let counts = Counts {
        posts: count("MATCH (p:Post) WHERE p.id IN $ids RETURN count(p) AS n", &reference.post_ids).await?,
        authors: count("MATCH (a:Author) WHERE a.id IN $ids RETURN count(DISTINCT a.id) AS n", &reference.author_ids)
            .await?,
        // The graph keeps each author's newest score only.
        scores: latest,
        latest_scores: latest,
        sheet_rows: count("MATCH (s:SheetRow) WHERE s.id IN $ids RETURN count(s) AS n", &reference.sheet_ids).await?,
    };
    println!("neo4j (the reference's ids; each author's newest score only)\n  {counts}");
    let lines = async |cypher: &str, columns: &[&str]| -> Result<Vec<String>> {
        let mut rows = graph
            .execute(
                neo4rs::query(cypher)
                    .param("posts", reference.post_ids.clone())
                    .param("authors", reference.author_ids.clone()),
            )
            .await?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await? {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| {
                    row.get::<String>(c)
                        .or_else(|_| row.get::<i64>(c).map(|v| v.to_string()))
                        .or_else(|_| row.get::<f64>(c).map(|v| format!("{v:.1}")))
                        .unwrap_or_else(|_| "-".into())
                })
                .collect();
            out.push(cells.join("  "));
        }
        Ok(out)
    };
    answer(
        "top KOLs by category (rate)",
        lines(
            "MATCH (a:Author) WHERE a.id IN $authors AND a.category IS NOT NULL AND a.kol_score IS NOT NULL
             RETURN a.category AS category, a.handle AS handle, a.rate AS rate, a.kol_score AS score, a.kol_tier AS tier
             ORDER BY category, score DESC LIMIT 6",
            &["category", "handle", "rate", "score", "tier"],
        )
        .await?,
    );
    answer(
        "sentiment per brand (posts ABOUT it)",
        lines(
            "MATCH (p:Post)-[:ABOUT]->(b:Brand) WHERE p.id IN $posts
             RETURN b.name AS brand, p.sentiment_label AS label, count(p) AS posts ORDER BY posts DESC, brand, label LIMIT 4",
            &["brand", "label", "posts"],
        )
        .await?,
    );
    answer(
        "brands co-mentioned by the same authors",
        lines(
            "MATCH (x:Brand)<-[:ABOUT]-(p:Post)<-[:POSTED]-(a:Author)-[:POSTED]->(q:Post)-[:ABOUT]->(y:Brand)
             WHERE p.id IN $posts AND q.id IN $posts AND x.name < y.name
             RETURN x.name AS brand, y.name AS with, count(DISTINCT a.id) AS authors
             ORDER BY authors DESC, brand, with LIMIT 4",
            &["brand", "with", "authors"],
        )
        .await?,
    );
    Ok(counts)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stores = Stores::from_env();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["--reset"] => stores.reset().await,
        ["--reference", path] => {
            let reference = reference(path)?;
            let mut found = BTreeMap::new();
            found.insert("clickhouse", clickhouse_counts(&stores).await?);
            found.insert("postgres", postgres_counts(&stores).await?);
            found.insert("mongodb", mongodb_counts(&stores).await?);
            let neo4j = neo4j_counts(&stores, &reference).await?;
            let mut wrong: Vec<String> = found
                .iter()
                .filter(|(_, counts)| **counts != reference.counts)
                .map(|(store, counts)| format!("{store}: {counts}"))
                .collect();
            let expected_graph = Counts { scores: reference.counts.latest_scores, ..reference.counts };
            if neo4j != expected_graph {
                wrong.push(format!("neo4j: {neo4j}"));
            }
            if !wrong.is_empty() {
                bail!("counts differ from the quick start's ({}):\n  {}", reference.counts, wrong.join("\n  "));
            }
            println!("every store matches the quick start: {}", reference.counts);
            Ok(())
        }
        _ => bail!("usage: stack_report --reference QUICKSTART.db | --reset"),
    }
}
