//! Any bytes a webhook may receive: parsing never panics, and every item
//! it reports is either a post or a rejection with a reason.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let (posts, rejected) = socialpipe_connectors::webhook::payload::parse(body, "fuzz");
    assert!(rejected.iter().all(|r| !r.reason.is_empty()));
    assert!(posts.iter().all(|p| !p.id.is_empty() && !p.author.id.is_empty()));
});
