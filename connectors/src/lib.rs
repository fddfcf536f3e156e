//! socialpipe sources. One folder per source: its config (what a user
//! writes), its reader, and its tests, registered on one line below. The
//! folders that are not sources hold what sources share: `records` (dead
//! letters and the mapping to posts), `http` (the API client), `api` (the
//! polling API sources' settings, cursor and pause), `graph` (the Meta
//! Graph API sources), `sheets` (the spreadsheet sources).

pub mod api;
pub mod graph;
pub mod http;
pub mod records;
pub mod sheets;

use socialpipe_schemas::SourceConfig;

socialpipe_schemas::registry! {
    /// A source, selected by its `type`.
    pub enum SourceKind: dyn SourceConfig {
        jsonl => Jsonl(JsonlConfig),
        twitter => Twitter(TwitterConfig),
        twitter_stream => TwitterStream(TwitterStreamConfig),
        facebook => Facebook(FacebookConfig),
        instagram => Instagram(InstagramConfig),
        youtube => Youtube(YoutubeConfig),
        tiktok => Tiktok(TiktokConfig),
        webhook => Webhook(WebhookConfig),
        gdrive => Gdrive(GdriveConfig),
        local_xlsx => LocalXlsx(LocalXlsxConfig),
    }
}
