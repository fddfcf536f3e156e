//! Stage `language`: the post's language as an ISO 639-1 code with the
//! detector's confidence (whatlang: trigram models for 70 languages, a few
//! microseconds a post). Mentions, hashtags, URLs and emoji are removed
//! first: they are not language and swing short posts.

#[cfg(test)]
mod tests;

use serde::Deserialize;
use serde_json::{Map, Value};
use socialpipe_schemas::enrichment::Language;
use socialpipe_schemas::{ComponentError, Enrichment, Processor, StageConfig};
use whatlang::Lang;

use crate::{TextEnricher, TextStage};

/// Writes `enrichments.language`: the post's language as an ISO 639-1 code
/// with whatlang's confidence. Mentions, hashtags, URLs and emoji are
/// removed first; they are not language and swing short posts.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageConfig {
    /// Below this confidence a detection is reported but not `reliable`.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f64,
    /// The languages to tell apart (ISO 639-1). A short post is easily
    /// taken for a rare language with similar letter trigrams (English for
    /// Afrikaans or Welsh): list only those your sources carry.
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
}

/// The most used languages on the large platforms.
fn default_languages() -> Vec<String> {
    [
        "en", "es", "pt", "fr", "de", "it", "nl", "ru", "uk", "pl", "tr", "ar", "fa", "he", "hi", "bn", "ur", "ja",
        "zh", "ko", "id", "vi", "th", "tl", "el", "sv", "ro",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// whatlang's own threshold for a reliable detection.
fn default_min_confidence() -> f64 {
    0.9
}

impl Default for LanguageConfig {
    fn default() -> Self {
        LanguageConfig { min_confidence: default_min_confidence(), languages: default_languages() }
    }
}

impl StageConfig for LanguageConfig {
    fn check(&self) -> Result<(), String> {
        crate::check_fraction("min_confidence", self.min_confidence)?;
        if self.languages.is_empty() {
            return Err("languages must not be empty".into());
        }
        match self.languages.iter().find(|c| lang_of(c).is_none()) {
            Some(unknown) => Err(format!("languages: {unknown:?} is not an ISO 639-1 code the detector knows")),
            None => Ok(()),
        }
    }

    fn build(&self) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(LanguageStage::new(self)))
    }

    fn writes(&self) -> Vec<&'static str> {
        vec![Language::KEY]
    }
}

pub struct LanguageEnricher {
    min_confidence: f64,
    detector: whatlang::Detector,
}

pub type LanguageStage = TextStage<LanguageEnricher>;

impl LanguageStage {
    pub fn new(config: &LanguageConfig) -> Self {
        let allowlist = config.languages.iter().filter_map(|c| lang_of(c)).collect();
        TextStage(LanguageEnricher {
            min_confidence: config.min_confidence,
            detector: whatlang::Detector::with_allowlist(allowlist),
        })
    }
}

impl LanguageEnricher {
    pub fn detect(&self, text: &str) -> Language {
        let prose = prose(text);
        match self.detector.detect(&prose) {
            Some(info) => Language {
                code: Some(iso_639_1(info.lang()).to_owned()),
                confidence: info.confidence(),
                reliable: info.confidence() >= self.min_confidence,
            },
            None => Language { code: None, confidence: 0.0, reliable: false },
        }
    }
}

/// How sure the detector is that `text` is in `code` rather than English,
/// asked as a choice between the two only: a Spanish post is easily told
/// from English even when Spanish and Portuguese are close.
pub fn confidence_over_english(text: &str, code: &str) -> f64 {
    let Some(lang) = lang_of(code) else { return 0.0 };
    if lang == Lang::Eng {
        return 0.0;
    }
    match whatlang::Detector::with_allowlist(vec![Lang::Eng, lang]).detect(&prose(text)) {
        Some(info) if info.lang() == lang => info.confidence(),
        _ => 0.0,
    }
}

impl TextEnricher for LanguageEnricher {
    type Output = Language;

    fn enrich(&self, text: &str, _: &Map<String, Value>) -> Language {
        self.detect(text)
    }
}

/// The words of a post, without @mentions, #hashtags, URLs and emoji.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace().filter(|w| !crate::is_markup(w)) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().filter(|c| c.is_alphanumeric() || c.is_ascii_punctuation() || *c == '\''));
    }
    out
}

/// The detector's language for an ISO 639-1 code.
fn lang_of(code: &str) -> Option<Lang> {
    Lang::all().iter().copied().find(|l| iso_639_1(*l) == code)
}

/// whatlang knows 70 languages by their ISO 639-3 codes.
fn iso_639_1(lang: Lang) -> &'static str {
    use Lang::*;
    match lang {
        Epo => "eo",
        Eng => "en",
        Rus => "ru",
        Cmn => "zh",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Ben => "bn",
        Fra => "fr",
        Deu => "de",
        Ukr => "uk",
        Kat => "ka",
        Ara => "ar",
        Hin => "hi",
        Jpn => "ja",
        Heb => "he",
        Yid => "yi",
        Pol => "pl",
        Amh => "am",
        Jav => "jv",
        Kor => "ko",
        Nob => "nb",
        Dan => "da",
        Swe => "sv",
        Fin => "fi",
        Tur => "tr",
        Nld => "nl",
        Hun => "hu",
        Ces => "cs",
        Ell => "el",
        Bul => "bg",
        Bel => "be",
        Mar => "mr",
        Kan => "kn",
        Ron => "ro",
        Slv => "sl",
        Hrv => "hr",
        Srp => "sr",
        Mkd => "mk",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Tam => "ta",
        Vie => "vi",
        Urd => "ur",
        Tha => "th",
        Guj => "gu",
        Uzb => "uz",
        Pan => "pa",
        Aze => "az",
        Ind => "id",
        Tel => "te",
        Pes => "fa",
        Mal => "ml",
        Ori => "or",
        Mya => "my",
        Nep => "ne",
        Sin => "si",
        Khm => "km",
        Tuk => "tk",
        Aka => "ak",
        Zul => "zu",
        Sna => "sn",
        Afr => "af",
        Lat => "la",
        Slk => "sk",
        Cat => "ca",
        Tgl => "tl",
        Hye => "hy",
        Cym => "cy",
    }
}
