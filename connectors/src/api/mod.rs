//! What the polling API sources (twitter, youtube, tiktok, facebook,
//! instagram, gdrive) share: the settings every one of them has
//! (`api_config!` writes them into each config, so users write them where
//! they always did), and `ApiBase`, which holds the client, the clock, the
//! checkpoint cursor and the pause between a daemon's sweeps.

mod sweep;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use socialpipe_schemas::{ComponentError, SourceMode};

use crate::http::{ApiClient, Clock, ErrorFormat, RetryPolicy, TokenSource};
use sweep::Pause;
pub use sweep::{Seen, SweepCursor, decode_checkpoint};

/// The settings every API source has.
pub trait ApiSettings {
    fn base_url(&self) -> &str;
    fn retry(&self) -> RetryPolicy;

    /// The checks every API source makes of its address and retries.
    fn check_api(&self) -> Result<(), String> {
        url::Url::parse(self.base_url()).map_err(|e| format!("base_url: {e}"))?;
        if self.retry().max_attempts == 0 {
            return Err("retry.max_attempts must be at least 1".into());
        }
        Ok(())
    }
}

/// An API source that a daemon sweeps every so often.
pub trait Polling: ApiSettings {
    fn poll_interval_secs(&self) -> u64;
}

/// Writes the shared settings into an API source's config struct (after
/// its own fields), with their defaults, and implements `ApiSettings`
/// (and `Polling` when `poll_interval_secs` has a default). The config
/// keeps `deny_unknown_fields`: the keys are its own, not nested.
macro_rules! api_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($fields:tt)* }
        defaults { base_url: $base_url:literal, poll_interval_secs: $poll:literal $(,)? }
    ) => {
        $crate::api::api_config! {
            @struct $(#[$meta])* $name {
                $($fields)*
                /// Seconds between the sweeps of a daemon.
                #[serde(default = "default_poll_interval_secs")]
                pub poll_interval_secs: u64,
            }
            $base_url
        }

        fn default_poll_interval_secs() -> u64 {
            $poll
        }

        impl $crate::api::Polling for $name {
            fn poll_interval_secs(&self) -> u64 {
                self.poll_interval_secs
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($fields:tt)* }
        defaults { base_url: $base_url:literal $(,)? }
    ) => {
        $crate::api::api_config! { @struct $(#[$meta])* $name { $($fields)* } $base_url }
    };
    (@struct $(#[$meta:meta])* $name:ident { $($fields:tt)* } $base_url:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($fields)*
            /// The API's address (tests point it at a local server).
            #[serde(default = "default_base_url")]
            pub base_url: String,
            /// Retries and timeouts of requests: 429 and 5xx are retried with
            /// exponential backoff (±25 % jitter), honouring `Retry-After`
            /// and rate-limit reset headers; then the runner backs off and asks again.
            #[serde(default)]
            pub retry: $crate::http::RetryPolicy,
        }

        fn default_base_url() -> String {
            $base_url.into()
        }

        impl $crate::api::ApiSettings for $name {
            fn base_url(&self) -> &str {
                &self.base_url
            }

            fn retry(&self) -> $crate::http::RetryPolicy {
                self.retry
            }
        }
    };
}
pub(crate) use api_config;

/// What a polling API source holds besides its own state: its name, the
/// client, the clock, the checkpoint cursor it commits with durable
/// output, whether it runs once, and when a daemon's next sweep is due.
pub struct ApiBase<C> {
    /// The source's name (the records' `source`).
    pub name: String,
    pub client: ApiClient,
    pub clock: Arc<dyn Clock>,
    pub cursor: C,
    pub mode: SourceMode,
    provider: &'static str,
    /// The base URL and the API's root path.
    root: String,
    poll_interval_secs: u64,
    pause: Pause,
}

impl<C: Serialize + DeserializeOwned + Default> ApiBase<C> {
    /// `root` is the API's path below `base_url` (e.g. `youtube/v3`).
    pub fn new(
        provider: &'static str,
        name: &str,
        settings: &impl Polling,
        root: &str,
        token: Arc<dyn TokenSource>,
        errors: Arc<dyn ErrorFormat>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ComponentError> {
        let client = ApiClient::new(provider, token, errors, Arc::clone(&clock), settings.retry())?;
        Ok(ApiBase {
            name: name.to_owned(),
            client,
            clock,
            cursor: C::default(),
            mode: SourceMode::Once,
            provider,
            root: [settings.base_url().trim_end_matches('/'), root].join("/").trim_end_matches('/').to_owned(),
            poll_interval_secs: settings.poll_interval_secs(),
            pause: Pause::default(),
        })
    }

    /// Resumes from `checkpoint` (None: from the start).
    pub fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.cursor = decode_checkpoint(self.provider, checkpoint)?;
        self.mode = mode;
        Ok(())
    }

    /// `path` below the API's root.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.root)
    }

    /// Between a daemon's sweeps: waits (a second at most, so the runner
    /// sees a shutdown) while the next sweep is not due; true while it is not.
    pub async fn waiting_for_sweep(&self) -> bool {
        self.pause.wait(&*self.clock).await
    }

    /// A sweep ended: a daemon starts the next one `poll_interval_secs`
    /// later. True when the run is `--once` (the source has caught up).
    pub fn end_sweep(&mut self) -> bool {
        self.pause.after_sweep(&*self.clock, self.poll_interval_secs);
        self.mode == SourceMode::Once
    }

    pub fn checkpoint(&self) -> Value {
        serde_json::to_value(&self.cursor).expect("checkpoints always serialise")
    }
}
