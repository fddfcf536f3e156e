//! A service account's access token: a JWT signed with the key file's
//! private key (RS256) exchanged at the key file's `token_uri` with the
//! JWT-bearer grant, and exchanged again a minute before it expires.

use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::{Deserialize, Serialize};
use socialpipe_schemas::ComponentError;

use socialpipe_schemas::Secret;

use crate::http::{Clock, TokenSource, form_request, request_token};

/// Read-only access to the files the account can see.
pub const SCOPE: &str = "https://www.googleapis.com/auth/drive.readonly";
/// A token is renewed this long before it expires.
const RENEW_BEFORE_SECS: i64 = 60;
/// Google accepts assertions valid for at most an hour.
const ASSERTION_SECS: i64 = 3_600;

/// The fields of a service account key file this needs.
#[derive(Deserialize)]
pub struct KeyFile {
    pub client_email: String,
    pub private_key: Secret,
    #[serde(default)]
    pub private_key_id: Option<String>,
    pub token_uri: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

pub struct ServiceAccount {
    email: String,
    key: EncodingKey,
    key_id: Option<String>,
    token_uri: String,
    clock: Arc<dyn Clock>,
    /// The token and when it expires (unix seconds).
    current: Mutex<Option<(Secret, i64)>>,
}

impl ServiceAccount {
    pub fn new(key_file: KeyFile, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let key = EncodingKey::from_rsa_pem(key_file.private_key.expose().as_bytes())
            .map_err(|e| format!("the key file's private_key is not an RSA key in PEM: {e}"))?;
        url::Url::parse(&key_file.token_uri).map_err(|e| format!("the key file's token_uri: {e}"))?;
        Ok(ServiceAccount {
            email: key_file.client_email,
            key,
            key_id: key_file.private_key_id,
            token_uri: key_file.token_uri,
            clock,
            current: Mutex::new(None),
        })
    }

    fn assertion(&self) -> Result<String, ComponentError> {
        let now = self.clock.now_unix();
        let claims =
            Claims { iss: &self.email, scope: SCOPE, aud: &self.token_uri, iat: now, exp: now + ASSERTION_SECS };
        let header = Header { kid: self.key_id.clone(), ..Header::new(Algorithm::RS256) };
        encode(&header, &claims, &self.key)
            .map_err(|e| ComponentError::fatal(format!("gdrive: signing the grant: {e}")))
    }
}

#[async_trait::async_trait]
impl TokenSource for ServiceAccount {
    async fn token(&self) -> Result<Secret, ComponentError> {
        let current = self.current.lock().expect("token lock").as_ref().map(|(token, _)| token.clone());
        current.ok_or_else(|| ComponentError::fatal("gdrive: no access token"))
    }

    async fn refresh(&self, client: &reqwest::Client) -> Result<bool, ComponentError> {
        let assertion = self.assertion()?;
        let grant = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
        let request = form_request(client, &self.token_uri, &grant);
        let Some(granted) = request_token("gdrive", request).await? else { return Ok(false) };
        let expires_at = self.clock.now_unix() + granted.expires_in.unwrap_or(ASSERTION_SECS);
        *self.current.lock().expect("token lock") = Some((granted.access_token, expires_at));
        Ok(true)
    }

    fn needs_refresh(&self) -> bool {
        let current = self.current.lock().expect("token lock");
        current.as_ref().is_none_or(|(_, expires_at)| self.clock.now_unix() >= expires_at - RENEW_BEFORE_SECS)
    }
}
