//! The component registry: each `type = "..."` name maps to its config type
//! and its constructor. Adding a component adds one variant here (and one
//! arm in each `match`), nothing else outside its own folder.

use serde::Deserialize;
use socialpipe_connectors::facebook::{FacebookConfig, FacebookSource};
use socialpipe_connectors::gdrive::{GdriveConfig, GdriveSource};
use socialpipe_connectors::instagram::{InstagramConfig, InstagramSource};
use socialpipe_connectors::jsonl::{JsonlConfig, JsonlSource};
use socialpipe_connectors::local_xlsx::{LocalXlsxConfig, LocalXlsxSource};
use socialpipe_connectors::tiktok::{TiktokConfig, TiktokSource};
use socialpipe_connectors::twitter::{TwitterConfig, TwitterSource};
use socialpipe_connectors::twitter_stream::{TwitterStreamConfig, TwitterStreamSource};
use socialpipe_connectors::webhook::{WebhookConfig, WebhookSource};
use socialpipe_connectors::youtube::{YoutubeConfig, YoutubeSource};
use socialpipe_processors::brand_safety::{BrandSafetyConfig, BrandSafetyStage};
use socialpipe_processors::embed::{EmbedConfig, EmbedStage};
use socialpipe_processors::emotion::{EmotionConfig, EmotionStage};
use socialpipe_processors::entities::{EntitiesConfig, EntitiesStage};
use socialpipe_processors::intent::{IntentConfig, IntentStage};
use socialpipe_processors::key_counter::{KeyCounterConfig, KeyCounterStage};
use socialpipe_processors::kol::{KolConfig, KolStage};
use socialpipe_processors::language::{LanguageConfig, LanguageStage};
use socialpipe_processors::passthrough::{PassthroughConfig, PassthroughStage};
use socialpipe_processors::sentiment::{SentimentConfig, SentimentStage};
use socialpipe_processors::topics::{TopicsConfig, TopicsStage};
use socialpipe_schemas::{ComponentError, Processor, Sink, Source};
use socialpipe_sinks::blackhole::{BlackholeConfig, BlackholeSink};
use socialpipe_sinks::clickhouse::{ClickhouseConfig, ClickhouseSink};
use socialpipe_sinks::mongodb::{MongodbConfig, MongodbSink};
use socialpipe_sinks::neo4j::{Neo4jConfig, Neo4jSink};
use socialpipe_sinks::postgres::{PostgresConfig, PostgresSink};
use socialpipe_sinks::sqlite::{SqliteConfig, SqliteSink};
use socialpipe_sinks::stdout::{StdoutConfig, StdoutSink};

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceKind {
    Jsonl(JsonlConfig),
    LocalXlsx(LocalXlsxConfig),
    Gdrive(GdriveConfig),
    Twitter(TwitterConfig),
    TwitterStream(TwitterStreamConfig),
    Facebook(FacebookConfig),
    Instagram(InstagramConfig),
    Webhook(WebhookConfig),
    Youtube(YoutubeConfig),
    Tiktok(TiktokConfig),
}

impl SourceKind {
    pub fn check(&self) -> Result<(), String> {
        match self {
            SourceKind::Jsonl(c) => c.check(),
            SourceKind::LocalXlsx(c) => c.check(),
            SourceKind::Gdrive(c) => c.check(),
            SourceKind::Twitter(c) => c.check(),
            SourceKind::TwitterStream(c) => c.check(),
            SourceKind::Facebook(c) => c.check(),
            SourceKind::Instagram(c) => c.check(),
            SourceKind::Webhook(c) => c.check(),
            SourceKind::Youtube(c) => c.check(),
            SourceKind::Tiktok(c) => c.check(),
        }
    }

    /// True for sources that never finish (they cannot run with `--once`).
    pub fn is_unbounded(&self) -> bool {
        match self {
            SourceKind::Jsonl(c) => c.follow,
            SourceKind::LocalXlsx(_) | SourceKind::Gdrive(_) => false,
            SourceKind::Twitter(_)
            | SourceKind::Facebook(_)
            | SourceKind::Instagram(_)
            | SourceKind::Youtube(_)
            | SourceKind::Tiktok(_) => false,
            SourceKind::Webhook(_) | SourceKind::TwitterStream(_) => true,
        }
    }

    pub fn build(&self, name: &str) -> Result<Box<dyn Source>, ComponentError> {
        Ok(match self {
            SourceKind::Jsonl(c) => Box::new(JsonlSource::new(name, c.clone())),
            SourceKind::LocalXlsx(c) => Box::new(LocalXlsxSource::new(name, c.clone())),
            SourceKind::Gdrive(c) => Box::new(GdriveSource::new(name, c.clone())?),
            SourceKind::Twitter(c) => Box::new(TwitterSource::new(name, c.clone())?),
            SourceKind::TwitterStream(c) => Box::new(TwitterStreamSource::new(name, c.clone())?),
            SourceKind::Facebook(c) => Box::new(FacebookSource::new(name, c.clone())?),
            SourceKind::Instagram(c) => Box::new(InstagramSource::new(name, c.clone())?),
            SourceKind::Webhook(c) => Box::new(WebhookSource::new(name, c.clone())?),
            SourceKind::Youtube(c) => Box::new(YoutubeSource::new(name, c.clone())?),
            SourceKind::Tiktok(c) => Box::new(TiktokSource::new(name, c.clone())?),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageKind {
    Entities(EntitiesConfig),
    Language(LanguageConfig),
    Sentiment(SentimentConfig),
    Emotion(EmotionConfig),
    Embed(EmbedConfig),
    Intent(IntentConfig),
    Topics(TopicsConfig),
    BrandSafety(BrandSafetyConfig),
    KeyCounter(KeyCounterConfig),
    Kol(Box<KolConfig>),
    Passthrough(PassthroughConfig),
}

impl StageKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            StageKind::Entities(_) => "entities",
            StageKind::Language(_) => "language",
            StageKind::Sentiment(_) => "sentiment",
            StageKind::Emotion(_) => "emotion",
            StageKind::Embed(_) => "embed",
            StageKind::Intent(_) => "intent",
            StageKind::Topics(_) => "topics",
            StageKind::BrandSafety(_) => "brand_safety",
            StageKind::KeyCounter(_) => "key_counter",
            StageKind::Kol(_) => "kol",
            StageKind::Passthrough(_) => "passthrough",
        }
    }

    /// Whether the stage keeps per-key state (see `Processor::keeps_state`).
    pub fn keeps_state(&self) -> bool {
        matches!(self, StageKind::KeyCounter(_) | StageKind::Kol(_))
    }

    /// Whether the stage emits `kol_score` records (to `topics.kol_scores`).
    pub fn emits_scores(&self) -> bool {
        matches!(self, StageKind::Kol(_))
    }

    /// Checks the stage's settings (a dictionary that does not build, a
    /// threshold out of range) before anything runs.
    pub fn check(&self) -> Result<(), String> {
        match self {
            StageKind::Entities(c) => c.check(),
            StageKind::Language(c) => c.check(),
            StageKind::Sentiment(c) => c.check(),
            StageKind::Emotion(c) => c.check(),
            StageKind::Embed(c) => c.check(),
            StageKind::Intent(c) => c.check(),
            StageKind::Topics(c) => c.check(),
            StageKind::BrandSafety(c) => c.check(),
            StageKind::Kol(c) => c.check(),
            StageKind::KeyCounter(_) | StageKind::Passthrough(_) => Ok(()),
        }
    }

    pub fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(match self {
            StageKind::Entities(c) => Box::new(EntitiesStage::new(c.clone()).map_err(ComponentError::fatal)?),
            StageKind::Language(c) => Box::new(LanguageStage::new(c)),
            StageKind::Sentiment(c) => {
                Box::new(SentimentStage::new(c).map_err(|e| ComponentError::fatal(e.to_string()))?)
            }
            StageKind::Emotion(c) => Box::new(EmotionStage::new(c).map_err(|e| ComponentError::fatal(e.to_string()))?),
            StageKind::Embed(c) => Box::new(EmbedStage::new(c).map_err(|e| ComponentError::fatal(e.to_string()))?),
            StageKind::Intent(c) => Box::new(IntentStage::new(c)),
            StageKind::Topics(c) => Box::new(TopicsStage::new(c).map_err(ComponentError::fatal)?),
            StageKind::BrandSafety(c) => Box::new(BrandSafetyStage::new(c).map_err(ComponentError::fatal)?),
            StageKind::KeyCounter(_) => Box::new(KeyCounterStage),
            StageKind::Kol(c) => Box::new(KolStage::new(c).map_err(|e| ComponentError::fatal(e.to_string()))?),
            StageKind::Passthrough(_) => Box::new(PassthroughStage),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkKind {
    Sqlite(SqliteConfig),
    Postgres(PostgresConfig),
    Clickhouse(ClickhouseConfig),
    Mongodb(MongodbConfig),
    Neo4j(Neo4jConfig),
    Stdout(StdoutConfig),
    Blackhole(BlackholeConfig),
}

impl SinkKind {
    /// Checks what can be checked without the store (URLs, names).
    pub fn check(&self) -> Result<(), String> {
        match self {
            SinkKind::Postgres(c) => c.check(),
            SinkKind::Clickhouse(c) => c.check(),
            SinkKind::Mongodb(c) => c.check(),
            SinkKind::Neo4j(c) => c.check(),
            SinkKind::Sqlite(_) | SinkKind::Stdout(_) | SinkKind::Blackhole(_) => Ok(()),
        }
    }

    /// Connects (and, when configured, migrates): a bad URL or bad
    /// credentials fail here, before anything is consumed; an unreachable
    /// store is a transient error the runner retries.
    pub async fn build(&self) -> Result<Box<dyn Sink>, ComponentError> {
        Ok(match self {
            SinkKind::Sqlite(c) => Box::new(SqliteSink::open(c)?),
            SinkKind::Postgres(c) => Box::new(PostgresSink::open(c).await?),
            SinkKind::Clickhouse(c) => Box::new(ClickhouseSink::open(c).await?),
            SinkKind::Mongodb(c) => Box::new(MongodbSink::open(c).await?),
            SinkKind::Neo4j(c) => Box::new(Neo4jSink::open(c).await?),
            SinkKind::Stdout(c) => Box::new(StdoutSink::new(c.clone())),
            SinkKind::Blackhole(_) => Box::new(BlackholeSink),
        })
    }

    /// Creates or upgrades the store's tables, collections, indexes and
    /// constraints; returns what was done (None: the sink has no store).
    pub async fn migrate(&self) -> Result<Option<String>, ComponentError> {
        let applied = |versions: Vec<i64>| match versions.as_slice() {
            [] => "up to date".to_owned(),
            v => format!("applied migrations {v:?}"),
        };
        Ok(Some(match self {
            SinkKind::Sqlite(c) => applied(SqliteSink::migrate_store(c)?),
            SinkKind::Postgres(c) => applied(PostgresSink::migrate_store(c).await?),
            SinkKind::Clickhouse(c) => applied(ClickhouseSink::migrate_store(c).await?),
            SinkKind::Mongodb(c) => MongodbSink::migrate_store(c).await?,
            SinkKind::Neo4j(c) => Neo4jSink::migrate_store(c).await?,
            SinkKind::Stdout(_) | SinkKind::Blackhole(_) => return Ok(None),
        }))
    }
}
