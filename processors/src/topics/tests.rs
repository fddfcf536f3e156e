use serde_json::{Map, json};

use super::{TopicsConfig, TopicsStage, rake};
use crate::TextEnricher;

#[test]
fn rake_scores_longer_content_phrases_higher_and_skips_stopwords() {
    let k = rake("The new noise cancelling headphones are great, but the battery life is short", 3);
    let phrases: Vec<&str> = k.iter().map(|k| k.phrase.as_str()).collect();
    assert_eq!(phrases, ["new noise cancelling headphones", "battery life", "great"]);
    assert_eq!(k[0].score, 16.0, "four words of degree 4");
}

#[test]
fn mentions_hashtags_urls_and_numbers_are_not_key_phrases() {
    let k = rake("@acme #sale 2024 https://x.y/z great coffee", 5);
    assert_eq!(k.iter().map(|k| k.phrase.as_str()).collect::<Vec<_>>(), ["great coffee"]);
}

#[test]
fn equal_scores_keep_the_order_of_appearance() {
    let k = rake("coffee, tea, juice", 5);
    assert_eq!(k.iter().map(|k| k.phrase.as_str()).collect::<Vec<_>>(), ["coffee", "tea", "juice"]);
}

#[test]
fn the_taxonomy_matches_words_and_hashtags() {
    let config: TopicsConfig =
        toml::from_str("[taxonomy]\nskincare = [\"serum\", \"spf\"]\ntravel = [\"flight\", \"hotel\"]").unwrap();
    let stage = TopicsStage::new(&config).unwrap();
    let v = serde_json::to_value(stage.0.enrich("Loving this SÉRUM before my #flight", &Map::new())).unwrap();
    assert_eq!(v["categories"], json!(["skincare", "travel"]));
    assert_eq!(v["hashtags"], json!(["flight"]));
    assert_eq!(v["keywords"][0]["phrase"], "loving");
}
