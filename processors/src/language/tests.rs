use super::{LanguageConfig, LanguageStage};

fn detect(text: &str) -> (Option<String>, bool) {
    let l = LanguageStage::new(&LanguageConfig::default()).0.detect(text);
    (l.code, l.reliable)
}

#[test]
fn common_languages_are_detected_with_iso_639_1_codes() {
    for (text, code) in [
        ("I absolutely love this new phone, the battery lasts all day long", "en"),
        ("Me encanta este teléfono nuevo porque la batería dura todo el día y la cámara es muy buena", "es"),
        ("J'adore ce nouveau téléphone, la batterie tient toute la journée", "fr"),
        ("Ich liebe dieses neue Handy, der Akku hält den ganzen Tag", "de"),
        ("Мне очень нравится этот новый телефон, батарея держит весь день", "ru"),
        ("この新しい携帯電話が大好きです。バッテリーが一日中持ちます", "ja"),
    ] {
        assert_eq!(detect(text).0, Some(code.to_owned()), "{text}");
        if code != "en" {
            assert!(super::confidence_over_english(text, code) >= 0.9, "{text}");
        }
    }
}

/// whatlang's confidence is low for short Latin-script posts and it takes
/// some short English for another language: such detections are reported
/// but not reliable (docs/record-schema.md).
#[test]
fn a_short_english_post_misread_is_not_reliable() {
    let (code, reliable) = detect("A flawed but engrossing thriller.");
    assert!(code.as_deref() == Some("en") || !reliable, "{code:?}");
}

#[test]
fn mentions_hashtags_and_urls_do_not_count_as_words() {
    let noisy = "@jean_pierre @marie #soldes #promo https://example.fr/x Me encanta este teléfono nuevo porque la batería dura todo el día";
    assert_eq!(detect(noisy).0.as_deref(), Some("es"));
}

#[test]
fn a_post_without_words_has_no_language() {
    assert_eq!(detect("🔥🔥 @a #b https://x.y"), (None, false));
}
