use serde_json::{Map, Value, json};

use socialpipe_schemas::StageConfig;

use super::{BrandSafetyConfig, BrandSafetyStage};
use crate::TextEnricher;

fn check(config: &BrandSafetyConfig, text: &str) -> Value {
    serde_json::to_value(BrandSafetyStage::new(config).unwrap().0.enrich(text, &Map::new())).unwrap()
}

#[test]
fn a_clean_post_is_safe_with_score_one() {
    let v = check(&BrandSafetyConfig::default(), "Loving the new spring collection 🌸");
    assert_eq!(v, json!({"score": 1.0, "safe": true, "flags": [], "terms": {}}));
}

#[test]
fn each_category_is_flagged_and_hits_lower_the_score() {
    let c = BrandSafetyConfig::default();
    let mild = check(&c, "damn this is good");
    assert_eq!(mild["flags"], json!(["profanity"]));
    assert_eq!(mild["safe"], true, "one mild swear word keeps a post safe");
    let v = check(&c, "WTF, NSFW pics and cocaine at the party, then a shooting");
    assert_eq!(v["flags"], json!(["profanity", "violence", "adult", "drugs"]));
    let score = v["score"].as_f64().unwrap();
    assert!((score - 0.8 * 0.6 * 0.5 * 0.7).abs() < 1e-12, "{v}");
    assert_eq!(v["safe"], false);
}

#[test]
fn whole_words_only_and_masked_spellings_count() {
    let c = BrandSafetyConfig::default();
    assert_eq!(check(&c, "Scunthorpe grass-fed cocktail")["flags"], json!([]));
    assert_eq!(check(&c, "what the f*ck")["terms"], json!({"profanity": ["f*ck"]}));
}

#[test]
fn config_adds_terms_allows_defaults_and_sets_weights() {
    let c: BrandSafetyConfig = toml::from_str(
        "allow = [\"crack\"]\nunsafe_below = 0.9\n[terms]\ndrugs = [\"edibles\"]\n[weights]\ndrugs = 0.5",
    )
    .unwrap();
    c.check().unwrap();
    let v = check(&c, "crack open some edibles");
    assert_eq!(v["terms"], json!({"drugs": ["edibles"]}));
    assert_eq!(v["score"], 0.5);
    assert!(toml::from_str::<BrandSafetyConfig>("[weights]\nhate = 0").unwrap().check().is_err());
}
