use socialpipe_schemas::{Processor, parse_raw_post};

use super::{Entities, EntitiesConfig, EntitiesStage, extract_entities};

fn extract(text: &str) -> Entities {
    extract_entities(text, true)
}

#[test]
fn finds_each_kind_in_a_typical_post() {
    let e =
        extract("Loving the new @acme phone! #tech #Tech $AAPL up 3% https://Acme.com/p?utm_source=x&id=7#frag 🔥🔥");
    assert_eq!(e.hashtags, ["tech"]);
    assert_eq!(e.mentions, ["acme"]);
    assert_eq!(e.cashtags, ["AAPL"]);
    assert_eq!(e.urls, ["https://acme.com/p?id=7"]);
    assert_eq!(e.emoji, ["🔥"]);
}

#[test]
fn hashtags_keep_non_latin_scripts_and_combining_marks_whole() {
    let e = extract("#東京 #càphê #ПРИВЕТ #สวัสดี #नमस्ते");
    assert_eq!(e.hashtags, ["東京", "càphê", "привет", "สวัสดี", "नमस्ते"]);
}

#[test]
fn hashtags_need_a_letter_and_a_boundary() {
    let e = extract("#2024 #1st a#b &#39; #_ok");
    assert_eq!(e.hashtags, ["1st", "_ok"]);
}

#[test]
fn emails_are_not_mentions_and_trailing_dots_are_not_in_handles() {
    let e = extract("mail me@example.com or ping @the.brand. and @Ünïcode_user");
    assert_eq!(e.mentions, ["the.brand", "ünïcode_user"]);
}

#[test]
fn cashtags_are_short_letter_tickers_not_prices() {
    let e = extract("$100 off $tsla $BRK.A $TOOLONGX $a1");
    assert_eq!(e.cashtags, ["TSLA", "BRK.A"]);
}

#[test]
fn urls_lose_sentence_punctuation_but_keep_balanced_parentheses() {
    let e = extract(
        "see https://en.wikipedia.org/wiki/Foo_(bar)). and (www.Example.COM:443/x?fbclid=1), http://a.b/c?q=1&utm_medium=z.",
    );
    assert_eq!(e.urls, ["https://en.wikipedia.org/wiki/Foo_(bar)", "https://www.example.com/x", "http://a.b/c?q=1"]);
}

#[test]
fn emoji_include_sequences_flags_keycaps_and_skin_tones_but_not_plain_symbols() {
    let e = extract("👍🏽 👨‍👩‍👧 🇻🇳 1️⃣ ❤ © 2026 ™ plain");
    assert_eq!(e.emoji, ["👍🏽", "👨‍👩‍👧", "🇻🇳", "1️⃣", "❤"]);
}

#[tokio::test]
async fn the_stage_writes_entities_into_enrichments_of_posts() {
    let post = parse_raw_post(
        br##"{"platform":"x","id":"1","author":{"id":"2"},"text":"#a @b","created_at":"2026-11-20T10:15:00Z"}"##,
    )
    .unwrap();
    let mut stage = EntitiesStage::new(EntitiesConfig::default()).unwrap();
    let out = stage.process(vec![post.into_envelope("posts")]).await;
    let record = out.into_iter().next().unwrap().unwrap();
    assert_eq!(record.enrichments["entities"]["hashtags"][0], "a");
    assert_eq!(record.enrichments["entities"]["mentions"][0], "b");
}

#[tokio::test]
async fn configured_brands_are_found_in_any_case_or_accent_and_a_post_without_text_is_invalid() {
    let config: EntitiesConfig =
        toml::from_str("[brands]\n\"L'Oréal\" = [\"l'oréal\", \"loreal\"]\nNike = [\"nike\", \"air jordan\"]").unwrap();
    let mut stage = EntitiesStage::new(config).unwrap();
    let good = parse_raw_post(
        br##"{"platform":"x","id":"1","author":{"id":"2"},"text":"AIR JORDAN > anything from L'OREAL. nikes?","created_at":"2026-11-20T10:15:00Z"}"##,
    )
    .unwrap()
    .into_envelope("posts");
    let mut bad = good.clone();
    bad.payload = socialpipe_schemas::Envelope::encode_payload(&serde_json::json!({"id": "1"}));
    let mut out = stage.process(vec![good, bad]).await.into_iter();
    let record = out.next().unwrap().unwrap();
    assert_eq!(record.enrichments["entities"]["brands"], serde_json::json!(["Nike", "L'Oréal"]));
    let failed = out.next().unwrap().unwrap_err();
    assert!(failed.error.to_string().contains("payload.text"), "{}", failed.error);
}
