//! Against a local server answering as the Drive v3 reference documents:
//! `files.list` with the requested `fields` (`nextPageToken`,
//! `files[id, name, mimeType, md5Checksum, modifiedTime, size]`, sizes as
//! int64 strings, Google Sheets without md5), downloads (`alt=media`) and
//! exports, errors as `error.errors[].reason`, and Google's OAuth token
//! endpoint answering the JWT-bearer grant. The key file is a key made for
//! these tests (`testdata/`); the grant's signature is checked with its
//! public half.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Value, json};
use socialpipe_schemas::{Source, SourceBatch, SourceMode};

use super::{GdriveConfig, GdriveSource};
use crate::http::fixture::{FixtureServer, Reply};
use crate::http::{Clock, ManualClock, RetryPolicy};
use crate::sheets::tests::roster;
use crate::sheets::{RowMapping, SheetRule, SheetSettings};

const TOKEN: &str = "/token";
const FILES: &str = "/drive/v3/files";
const NOW: i64 = 1_764_000_000;
const SHEET_MIME: &str = "application/vnd.google-apps.spreadsheet";
const XLSX_MIME: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The test key file with its `token_uri` at the local server.
fn key_file(dir: &std::path::Path, server: &FixtureServer) -> std::path::PathBuf {
    let mut key: Value = serde_json::from_str(include_str!("testdata/service-account.json")).unwrap();
    key["token_uri"] = json!(format!("{}{TOKEN}", server.base_url));
    let path = dir.join("key.json");
    std::fs::write(&path, key.to_string()).unwrap();
    path
}

fn config(server: &FixtureServer, key_file: std::path::PathBuf) -> GdriveConfig {
    let rule = SheetRule {
        sheet: "Roster".into(),
        key_column: Some("handle".into()),
        map: RowMapping::Roster,
        columns: Default::default(),
    };
    GdriveConfig {
        folder_id: "1AbCfolder".into(),
        key_file,
        base_url: server.base_url.clone(),
        page_size: 2,
        poll_interval_secs: 300,
        sheets: SheetSettings { rules: vec![rule], ..Default::default() },
        retry: RetryPolicy { max_attempts: 3, ..Default::default() },
    }
}

fn token(value: &str) -> Reply {
    Reply::json(json!({"access_token": value, "expires_in": 3599, "token_type": "Bearer"}))
}

/// A listed file: `(id, name, md5)`; no md5 makes it a Google Sheet.
fn listed(id: &str, name: &str, md5: Option<&str>) -> Value {
    let mut file = json!({"id": id, "name": name, "modifiedTime": "2026-11-20T08:00:00.000Z"});
    match md5 {
        Some(md5) => {
            file["mimeType"] = json!(XLSX_MIME);
            file["md5Checksum"] = json!(md5);
            file["size"] = json!("6021");
        }
        None => file["mimeType"] = json!(SHEET_MIME),
    }
    file
}

fn page(files: &[Value], next: Option<&str>) -> Reply {
    let mut page = json!({"files": files});
    if let Some(next) = next {
        page["nextPageToken"] = json!(next);
    }
    Reply::json(page)
}

async fn open(config: GdriveConfig, clock: &Arc<ManualClock>, checkpoint: Option<Value>) -> GdriveSource {
    let mut source = GdriveSource::with_clock("drive", config, clock.clone()).unwrap();
    source.open(checkpoint, SourceMode::Once).await.unwrap();
    source
}

/// Every batch of a `--once` run.
async fn run(source: &mut GdriveSource) -> Vec<SourceBatch> {
    let mut batches = Vec::new();
    loop {
        let batch = source.next_batch(100).await.unwrap();
        let done = batch.caught_up;
        batches.push(batch);
        if done {
            return batches;
        }
    }
}

fn ids(batches: &[SourceBatch]) -> Vec<String> {
    batches.iter().flat_map(|b| b.records.iter().map(|r| r.id.clone())).collect()
}

/// Three listing pages: a spreadsheet, a Google Sheet, a corrupt upload, a renamed copy, and a file Drive will not hand over.
fn listing() -> [Reply; 3] {
    [
        page(&[listed("f1", "kols.xlsx", Some("md5-a")), listed("g1", "Roster (live)", None)], Some("P2")),
        page(&[listed("f2", "broken.xlsx", Some("md5-b")), listed("f3", "kols copy.xlsx", Some("md5-a"))], Some("P3")),
        page(&[listed("f4", "locked.xlsx", Some("md5-c"))], None),
    ]
}

/// The listing and its files' downloads.
fn three_pages(server: &FixtureServer) {
    server.reply(FILES, listing());
    server.reply("/drive/v3/files/f1", [Reply::bytes(roster(12_000.0))]);
    server.reply("/drive/v3/files/g1/export", [Reply::bytes(roster(12_000.0))]);
    server.reply("/drive/v3/files/f2", [Reply::bytes(b"PK\x03\x04 truncated".to_vec())]);
    let refused = json!({"error": {"code": 403, "message": "Only files with binary content can be downloaded.",
        "errors": [{"domain": "global", "reason": "fileNotDownloadable", "message": "Only files with binary content can be downloaded.", "locationType": "parameter", "location": "alt"}]}});
    server.reply("/drive/v3/files/f4", [Reply::status(403, &refused.to_string())]);
}

#[tokio::test]
async fn a_folder_is_listed_page_by_page_its_files_read_once_and_an_unchanged_folder_gives_nothing() {
    let server = FixtureServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    server.reply(TOKEN, [token("ya29.first")]);
    three_pages(&server);
    let clock = Arc::new(ManualClock::at(NOW));
    let config = config(&server, key_file(dir.path(), &server));
    let mut source = open(config.clone(), &clock, None).await;
    let batches = run(&mut source).await;
    assert_eq!(
        ids(&batches),
        ["sheet:f1:Roster:@ann", "sheet:f1:Roster:bob", "sheet:f1:Notes:4"],
        "the Google Sheet holds the same rows, the copy is skipped unread"
    );
    let reasons: Vec<&str> = batches.iter().flat_map(|b| &b.rejected).map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2);
    assert!(reasons[0].starts_with("file \"broken.xlsx\": not a readable workbook"), "{}", reasons[0]);
    assert_eq!(reasons[1], "file \"locked.xlsx\": Drive refused the download: fileNotDownloadable");

    let seen = server.seen();
    let lists: Vec<_> = seen.iter().filter(|s| s.path == FILES).collect();
    assert_eq!(lists.len(), 3);
    assert_eq!(
        lists[0].query["q"],
        format!(
            "'1AbCfolder' in parents and trashed = false and (mimeType = '{XLSX_MIME}' or mimeType = '{SHEET_MIME}')"
        )
    );
    assert_eq!((lists[1].query["pageToken"].as_str(), lists[2].query["pageToken"].as_str()), ("P2", "P3"));
    assert_eq!(seen.iter().find(|s| s.path == "/drive/v3/files/f1").unwrap().query["alt"], "media");
    assert_eq!(seen.iter().find(|s| s.path == "/drive/v3/files/g1/export").unwrap().query["mimeType"], XLSX_MIME);
    assert!(seen.iter().all(|s| s.path != "/drive/v3/files/f3"), "the renamed copy is not downloaded");
    assert!(seen.iter().filter(|s| s.path != TOKEN).all(|s| s.authorization.as_deref() == Some("Bearer ya29.first")));

    // The grant: a JWT signed by the key file's key, for its email, scope and token_uri.
    let grant = String::from_utf8(seen[0].body.to_vec()).unwrap();
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(grant.as_bytes()).into_owned().collect();
    assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[format!("{}{TOKEN}", server.base_url)]);
    validation.validate_exp = false;
    let key = DecodingKey::from_rsa_pem(include_bytes!("testdata/public.pem")).unwrap();
    let claims = decode::<Value>(&form["assertion"], &key, &validation).unwrap().claims;
    assert_eq!(claims["iss"], "pipeline@socialpipe-tests.iam.gserviceaccount.com");
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/drive.readonly");
    assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(NOW), Some(NOW + 3600)));

    // The next run: every file unchanged, nothing downloaded, nothing emitted.
    let checkpoint = batches.iter().rev().find_map(|b| b.checkpoint.clone());
    server.reply(TOKEN, [token("ya29.second")]);
    server.reply(FILES, listing());
    let before = server.seen().len();
    let again = run(&mut open(config, &clock, checkpoint).await).await;
    assert!(ids(&again).is_empty() && again.iter().all(|b| b.rejected.is_empty()));
    assert!(server.seen()[before..].iter().all(|s| s.path == FILES || s.path == TOKEN), "no download");
}

#[tokio::test]
async fn a_restart_resumes_at_the_listing_page_it_was_reading() {
    let server = FixtureServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    server.reply(TOKEN, [token("ya29.first"), token("ya29.second")]);
    three_pages(&server);
    let clock = Arc::new(ManualClock::at(NOW));
    let config = config(&server, key_file(dir.path(), &server));
    let mut source = open(config.clone(), &clock, None).await;
    // Read until the first page is done and the checkpoint names page 2.
    let mut checkpoint = None;
    while checkpoint.as_ref().is_none_or(|c: &Value| c["sweep"]["page_token"] != "P2") {
        checkpoint = source.next_batch(100).await.unwrap().checkpoint.or(checkpoint);
    }
    server.reply(
        FILES,
        [
            page(
                &[listed("f2", "broken.xlsx", Some("md5-b")), listed("f3", "kols copy.xlsx", Some("md5-a"))],
                Some("P3"),
            ),
            page(&[listed("f4", "locked.xlsx", Some("md5-c"))], None),
        ],
    );
    let before = server.seen().iter().filter(|s| s.path == FILES).count();
    let resumed = run(&mut open(config, &clock, checkpoint).await).await;
    let lists: Vec<_> = server.seen().into_iter().filter(|s| s.path == FILES).skip(before).collect();
    assert_eq!(lists[0].query["pageToken"], "P2", "the restart asks for the page it was at");
    assert!(ids(&resumed).is_empty(), "page 1's rows were read; the copy on page 2 is skipped");
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires_and_a_rate_limit_is_waited_out() {
    let server = FixtureServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    server.reply(TOKEN, [token("ya29.first"), token("ya29.second")]);
    let limited = json!({"error": {"code": 403, "message": "User rate limit exceeded.",
        "errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded", "message": "User rate limit exceeded."}]}});
    server.reply(FILES, [Reply::status(403, &limited.to_string()), page(&[], None), page(&[], None)]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut source =
        GdriveSource::with_clock("drive", config(&server, key_file(dir.path(), &server)), clock.clone()).unwrap();
    source.open(None, SourceMode::Continuous).await.unwrap();
    // The first sweep: the rate limit is backed off once, then the (empty) folder is listed.
    while source.next_batch(100).await.unwrap().checkpoint.is_none_or(|c| !c["sweep"].is_null()) {}
    assert_eq!(clock.slept().len(), 1, "one backoff after the rate limit");
    // An hour later the token (valid 3599 s) is renewed before the next sweep's request.
    clock.sleep(std::time::Duration::from_secs(3600)).await;
    while source.next_batch(100).await.unwrap().checkpoint.is_none_or(|c| !c["sweep"].is_null()) {}
    let seen = server.seen();
    assert_eq!(seen.iter().filter(|s| s.path == TOKEN).count(), 2);
    let lists: Vec<_> = seen.iter().filter(|s| s.path == FILES).collect();
    assert_eq!(lists.len(), 3);
    assert_eq!(lists[1].authorization.as_deref(), Some("Bearer ya29.first"));
    assert_eq!(lists[2].authorization.as_deref(), Some("Bearer ya29.second"));
}

#[tokio::test]
async fn a_download_larger_than_max_file_bytes_is_a_dead_letter_whatever_its_listed_size() {
    let server = FixtureServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    server.reply(TOKEN, [token("ya29.first")]);
    let mut small = listed("f1", "kols.xlsx", Some("md5-a"));
    small["size"] = json!("100");
    let mut big = listed("f2", "big.xlsx", Some("md5-b"));
    big["size"] = json!("900000");
    server.reply(FILES, [page(&[small, big], None)]);
    server.reply("/drive/v3/files/f1", [Reply::bytes(roster(12_000.0))]);
    let clock = Arc::new(ManualClock::at(NOW));
    let mut config = config(&server, key_file(dir.path(), &server));
    config.sheets.max_file_bytes = 1_000;
    let batches = run(&mut open(config, &clock, None).await).await;
    let reasons: Vec<&str> = batches.iter().flat_map(|b| &b.rejected).map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].starts_with("file \"kols.xlsx\": gdrive: a response of"), "{}", reasons[0]);
    assert!(reasons[0].ends_with("> the limit 1000"), "{}", reasons[0]);
    assert_eq!(reasons[1], "file \"big.xlsx\": 900000 bytes > max_file_bytes 1000");
    assert!(server.seen().iter().all(|s| s.path != "/drive/v3/files/f2"), "a file listed too large is not downloaded");
}
