//! A literal port of vaderSentiment 3.3.2 (Hutto & Gilbert, ICWSM 2014;
//! MIT, data/LICENSE-vaderSentiment.txt). The goal is the package's output,
//! quirks included (the "but" rule rescales the first equal score, "no"
//! looks three words back, idioms are checked only three words after a
//! modifier), so the code follows the Python function by function; words
//! are lower-cased once instead of once per rule, which changes nothing.

use std::collections::HashMap;
use std::sync::LazyLock;

use foldhash::fast::FixedState;

use super::pystr;

const B_INCR: f64 = 0.293;
const B_DECR: f64 = -0.293;
const C_INCR: f64 = 0.733;
const N_SCALAR: f64 = -0.74;

const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

const BOOSTERS_UP: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerable",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormous",
    "enormously",
    "entirely",
    "especially",
    "exceptional",
    "exceptionally",
    "extreme",
    "extremely",
    "fabulously",
    "flipping",
    "flippin",
    "frackin",
    "fracking",
    "fricking",
    "frickin",
    "frigging",
    "friggin",
    "fully",
    "fuckin",
    "fucking",
    "fuggin",
    "fugging",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredible",
    "incredibly",
    "intensely",
    "major",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "total",
    "totally",
    "tremendous",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utter",
    "utterly",
    "very",
];

const BOOSTERS_DOWN: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "just enough",
    "kind of",
    "kinda",
    "kindof",
    "kind-of",
    "less",
    "little",
    "marginal",
    "marginally",
    "occasional",
    "occasionally",
    "partly",
    "scarce",
    "scarcely",
    "slight",
    "slightly",
    "somewhat",
    "sort of",
    "sorta",
    "sortof",
    "sort-of",
];

const SPECIAL_CASES: &[(&str, f64)] = &[
    ("the shit", 3.0),
    ("the bomb", 3.0),
    ("bad ass", 1.5),
    ("badass", 1.5),
    ("bus stop", 0.0),
    ("yeah right", -2.0),
    ("kiss of death", -1.5),
    ("to die for", 3.0),
    ("beating heart", 3.5),
];

/// neg/neu/pos/compound, rounded as vaderSentiment rounds (3 and 4 digits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Polarity {
    pub neg: f64,
    pub neu: f64,
    pub pos: f64,
    pub compound: f64,
}

/// Lookups are most of VADER's work: a fast fixed hasher (the keys are
/// the bundled lexicon's, not attacker-chosen).
type Map<K, V> = HashMap<K, V, FixedState>;

pub struct Vader {
    lexicon: Map<&'static str, f64>,
    emoji: Map<char, &'static str>,
    /// Whether any emoji key is ASCII (not in the bundled lexicon): if
    /// not, ASCII characters skip the lookup.
    ascii_emoji: bool,
    boosters: Map<&'static str, f64>,
}

static LEXICON: &str = include_str!("data/vader_lexicon.txt");
static EMOJI_LEXICON: &str = include_str!("data/emoji_utf8_lexicon.txt");

static SHARED: LazyLock<Vader> = LazyLock::new(Vader::load);

impl Vader {
    /// The analyzer with the bundled lexicons, loaded once per process.
    pub fn shared() -> &'static Vader {
        &SHARED
    }

    fn load() -> Vader {
        // As make_lex_dict / make_emoji_dict: strip, split on tabs, later
        // lines win; only single code point emoji keys can ever match.
        let mut lexicon = Map::default();
        for line in LEXICON.trim_end_matches('\n').split('\n').filter(|l| !l.is_empty()) {
            let mut fields = pystr::strip(line).split('\t');
            let (Some(word), Some(measure)) = (fields.next(), fields.next()) else { continue };
            lexicon.insert(word, measure.parse().expect("the bundled lexicon's measures are numbers"));
        }
        let mut emoji = Map::default();
        for line in EMOJI_LEXICON.trim_end_matches('\n').split('\n') {
            let mut fields = pystr::strip(line).split('\t');
            let (Some(key), Some(description)) = (fields.next(), fields.next()) else { continue };
            let mut chars = key.chars();
            if let (Some(ch), None) = (chars.next(), chars.next()) {
                emoji.insert(ch, description);
            }
        }
        let boosters =
            BOOSTERS_UP.iter().map(|&w| (w, B_INCR)).chain(BOOSTERS_DOWN.iter().map(|&w| (w, B_DECR))).collect();
        let ascii_emoji = emoji.keys().any(char::is_ascii);
        Vader { lexicon, emoji, ascii_emoji, boosters }
    }

    /// `SentimentIntensityAnalyzer().polarity_scores(text)`.
    pub fn polarity_scores(&self, text: &str) -> Polarity {
        let text = self.describe_emoji(text);
        let text = pystr::strip(&text);
        let words: Vec<&str> = pystr::split(text).map(strip_punc_if_word).collect();
        let lowers: Vec<String> = words.iter().map(|w| pystr::lower(w)).collect();
        // What the rules ask of each word, looked up once.
        let upper: Vec<bool> = words.iter().map(|w| pystr::is_upper(w)).collect();
        let sentence = Sentence {
            lowers: &lowers,
            measure: lowers.iter().map(|l| self.lexicon.get(l.as_str()).copied()).collect(),
            booster: lowers.iter().map(|l| self.boosters.get(l.as_str()).copied()).collect(),
            is_cap_diff: allcap_differential(&upper),
            upper,
        };

        let mut sentiments = Vec::with_capacity(words.len());
        for i in 0..words.len() {
            let lower = lowers[i].as_str();
            let kind_of = i + 1 < words.len() && lower == "kind" && lowers[i + 1] == "of";
            if sentence.booster[i].is_some() || kind_of {
                sentiments.push(0.0);
                continue;
            }
            sentiments.push(self.sentiment_valence(&sentence, i));
        }
        but_check(&lowers, &mut sentiments);
        score_valence(&sentiments, text)
    }

    fn emoji_description(&self, ch: char) -> Option<&'static str> {
        if ch.is_ascii() && !self.ascii_emoji { None } else { self.emoji.get(&ch).copied() }
    }

    /// Emoji are replaced by their description, one code point at a time.
    fn describe_emoji<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if !text.chars().any(|ch| self.emoji_description(ch).is_some()) {
            return text.into();
        }
        let mut out = String::with_capacity(text.len() + 32);
        let mut prev_space = true;
        for ch in text.chars() {
            if let Some(description) = self.emoji_description(ch) {
                if !prev_space {
                    out.push(' ');
                }
                out.push_str(description);
                prev_space = false;
            } else {
                out.push(ch);
                prev_space = ch == ' ';
            }
        }
        out.into()
    }

    fn sentiment_valence(&self, s: &Sentence, i: usize) -> f64 {
        let l = s.lowers;
        let Some(measure) = s.measure[i] else { return 0.0 };
        let mut valence = measure;
        // "no" before another lexicon word negates it instead of counting.
        if l[i] == "no" && i != l.len() - 1 && s.measure[i + 1].is_some() {
            valence = 0.0;
        }
        if (i > 0 && l[i - 1] == "no")
            || (i > 1 && l[i - 2] == "no")
            || (i > 2 && l[i - 3] == "no" && (l[i - 1] == "or" || l[i - 1] == "nor"))
        {
            valence = measure * N_SCALAR;
        }
        if s.upper[i] && s.is_cap_diff {
            if valence > 0.0 {
                valence += C_INCR;
            } else {
                valence -= C_INCR;
            }
        }
        for start_i in 0..3 {
            if i > start_i && s.measure[i - (start_i + 1)].is_none() {
                let mut scalar = scalar_inc_dec(s, i - (start_i + 1), valence);
                if start_i == 1 && scalar != 0.0 {
                    scalar *= 0.95;
                }
                if start_i == 2 && scalar != 0.0 {
                    scalar *= 0.9;
                }
                valence += scalar;
                valence = negation_check(valence, l, start_i, i);
                if start_i == 2 {
                    valence = self.special_idioms_check(valence, l, i);
                }
            }
        }
        least_check(valence, s, i)
    }

    /// Only reached with i ≥ 3. The Python joins the words with spaces and
    /// looks the strings up; words never contain a space, so comparing the
    /// word sequences is the same test without building strings.
    fn special_idioms_check(&self, mut valence: f64, l: &[String], i: usize) -> f64 {
        let w = |k: usize| l[k].as_str();
        let onezero = [w(i - 1), w(i)];
        let twoonezero = [w(i - 2), w(i - 1), w(i)];
        let twoone = [w(i - 2), w(i - 1)];
        let threetwoone = [w(i - 3), w(i - 2), w(i - 1)];
        let threetwo = [w(i - 3), w(i - 2)];
        let sequences: [&[&str]; 5] = [&onezero, &twoonezero, &twoone, &threetwoone, &threetwo];
        if let Some(v) = sequences.iter().find_map(|seq| special_case(seq)) {
            valence = v;
        }
        if l.len() - 1 > i
            && let Some(v) = special_case(&[w(i), w(i + 1)])
        {
            valence = v;
        }
        if l.len() - 1 > i + 1
            && let Some(v) = special_case(&[w(i), w(i + 1), w(i + 2)])
        {
            valence = v;
        }
        for n_gram in [&threetwoone[..], &threetwo, &twoone] {
            if let Some(b) = multiword_booster(n_gram) {
                valence += b;
            }
        }
        valence
    }
}

struct Sentence<'a> {
    lowers: &'a [String],
    /// Per word: its lexicon measure, its booster value, `isupper()`.
    measure: Vec<Option<f64>>,
    booster: Vec<Option<f64>>,
    upper: Vec<bool>,
    is_cap_diff: bool,
}

fn scalar_inc_dec(s: &Sentence, j: usize, valence: f64) -> f64 {
    let Some(booster) = s.booster[j] else { return 0.0 };
    let mut scalar = if valence < 0.0 { -booster } else { booster };
    if s.upper[j] && s.is_cap_diff {
        if valence > 0.0 {
            scalar += C_INCR;
        } else {
            scalar -= C_INCR;
        }
    }
    scalar
}

fn least_check(valence: f64, s: &Sentence, i: usize) -> f64 {
    let l = s.lowers;
    if i > 1 && s.measure[i - 1].is_none() && l[i - 1] == "least" {
        if l[i - 2] != "at" && l[i - 2] != "very" {
            return valence * N_SCALAR;
        }
    } else if i > 0 && s.measure[i - 1].is_none() && l[i - 1] == "least" {
        return valence * N_SCALAR;
    }
    valence
}

/// The special cases and the boosters of more than one word ("kind of"),
/// as word sequences.
static SPECIAL_CASE_WORDS: LazyLock<Vec<(Vec<&str>, f64)>> =
    LazyLock::new(|| SPECIAL_CASES.iter().map(|&(k, v)| (k.split(' ').collect(), v)).collect());
static MULTIWORD_BOOSTERS: LazyLock<Vec<(Vec<&str>, f64)>> = LazyLock::new(|| {
    let up = BOOSTERS_UP.iter().map(|&w| (w, B_INCR));
    let down = BOOSTERS_DOWN.iter().map(|&w| (w, B_DECR));
    up.chain(down).filter(|(k, _)| k.contains(' ')).map(|(k, v)| (k.split(' ').collect(), v)).collect()
});

fn find_words(table: &[(Vec<&str>, f64)], words: &[&str]) -> Option<f64> {
    table.iter().find(|(k, _)| k.as_slice() == words).map(|&(_, v)| v)
}

fn special_case(words: &[&str]) -> Option<f64> {
    find_words(&SPECIAL_CASE_WORDS, words)
}

fn multiword_booster(words: &[&str]) -> Option<f64> {
    find_words(&MULTIWORD_BOOSTERS, words)
}

/// Leading and trailing ASCII punctuation goes unless that leaves two
/// characters or fewer (then it was probably an emoticon).
fn strip_punc_if_word(token: &str) -> &str {
    let stripped = token.trim_matches(|c: char| c.is_ascii_punctuation());
    if stripped.chars().count() <= 2 { token } else { stripped }
}

/// Some but not all words are ALL CAPS (`upper`: each word's `isupper()`).
fn allcap_differential(upper: &[bool]) -> bool {
    let allcap = upper.iter().filter(|&&u| u).count();
    let differential = upper.len() - allcap;
    0 < differential && differential < upper.len()
}

fn negated(lower: &str) -> bool {
    NEGATE.contains(&lower) || lower.contains("n't")
}

fn negation_check(valence: f64, l: &[String], start_i: usize, i: usize) -> f64 {
    let so_or_this = |w: &str| w == "so" || w == "this";
    match start_i {
        0 if negated(&l[i - 1]) => valence * N_SCALAR,
        1 => {
            if l[i - 2] == "never" && so_or_this(&l[i - 1]) {
                valence * 1.25
            } else if l[i - 2] == "without" && l[i - 1] == "doubt" {
                valence
            } else if negated(&l[i - 2]) {
                valence * N_SCALAR
            } else {
                valence
            }
        }
        2 => {
            // Python's `a and b or c`: the second clause stands alone.
            if (l[i - 3] == "never" && so_or_this(&l[i - 2])) || so_or_this(&l[i - 1]) {
                valence * 1.25
            } else if l[i - 3] == "without" && (l[i - 2] == "doubt" || l[i - 1] == "doubt") {
                valence
            } else if negated(&l[i - 3]) {
                valence * N_SCALAR
            } else {
                valence
            }
        }
        _ => valence,
    }
}

/// The contrastive "but": scores before the first one count half, after it
/// one and a half. As in the Python, each score is looked up by value, so
/// the first of several equal scores is the one rescaled, repeatedly.
fn but_check(lowers: &[String], sentiments: &mut [f64]) {
    let Some(bi) = lowers.iter().position(|w| w == "but") else { return };
    for k in 0..sentiments.len() {
        let sentiment = sentiments[k];
        let si = sentiments.iter().position(|&s| s == sentiment).expect("the score is in the list");
        if si < bi {
            sentiments[si] = sentiment * 0.5;
        } else if si > bi {
            sentiments[si] = sentiment * 1.5;
        }
    }
}

fn punctuation_emphasis(text: &str) -> f64 {
    let ep_count = text.matches('!').count().min(4);
    let qm_count = text.matches('?').count();
    let qm = match qm_count {
        0 | 1 => 0.0,
        2 | 3 => qm_count as f64 * 0.18,
        _ => 0.96,
    };
    ep_count as f64 * 0.292 + qm
}

fn normalize(score: f64) -> f64 {
    (score / (score * score + 15.0).sqrt()).clamp(-1.0, 1.0)
}

fn score_valence(sentiments: &[f64], text: &str) -> Polarity {
    if sentiments.is_empty() {
        return Polarity { neg: 0.0, neu: 0.0, pos: 0.0, compound: 0.0 };
    }
    // Python sums from the integer 0, so an all -0.0 list sums to 0.0.
    let mut sum_s = sentiments.iter().fold(0.0, |sum, s| sum + s);
    let punct = punctuation_emphasis(text);
    if sum_s > 0.0 {
        sum_s += punct;
    } else if sum_s < 0.0 {
        sum_s -= punct;
    }
    let compound = normalize(sum_s);
    let (mut pos_sum, mut neg_sum, mut neu_count) = (0.0, 0.0, 0u32);
    for &s in sentiments {
        if s > 0.0 {
            pos_sum += s + 1.0;
        }
        if s < 0.0 {
            neg_sum += s - 1.0;
        }
        if s == 0.0 {
            neu_count += 1;
        }
    }
    if pos_sum > f64::abs(neg_sum) {
        pos_sum += punct;
    } else if pos_sum < f64::abs(neg_sum) {
        neg_sum -= punct;
    }
    let total = pos_sum + f64::abs(neg_sum) + f64::from(neu_count);
    Polarity {
        neg: pystr::round((neg_sum / total).abs(), 3),
        neu: pystr::round((f64::from(neu_count) / total).abs(), 3),
        pos: pystr::round((pos_sum / total).abs(), 3),
        compound: pystr::round(compound, 4),
    }
}
