use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use socialpipe_schemas::{Envelope, KeyedState, KolScoreRecord, Processor, StageConfig, parse_raw_post};

use super::{Brief, KolConfig, KolStage, Tier};

const DAY: i64 = 86_400_000;

/// A post by `author` on twitter, `day` days (fractions allowed) after 2026-01-01.
struct P {
    id: u32,
    author: &'static str,
    day: f64,
    likes: u64,
    followers: Option<u64>,
    following: Option<u64>,
    text: &'static str,
    enrichments: Value,
}

impl P {
    fn new(id: u32, author: &'static str, day: f64) -> P {
        P {
            id,
            author,
            day,
            likes: 100,
            followers: Some(20_000),
            following: Some(300),
            text: "hello",
            enrichments: json!({}),
        }
    }

    fn envelope(&self) -> Envelope {
        let at = chrono::DateTime::from_timestamp_millis(1_767_225_600_000 + (self.day * DAY as f64) as i64).unwrap();
        let line = json!({
            "platform": "twitter", "id": self.id.to_string(), "text": self.text, "created_at": at.to_rfc3339(),
            "author": { "id": self.author, "handle": self.author, "followers": self.followers, "following": self.following },
            "metrics": { "likes": self.likes, "comments": 10, "shares": 0 },
        });
        let mut e = parse_raw_post(line.to_string().as_bytes()).unwrap().into_envelope("posts");
        e.version = 1;
        e.enrichments = self.enrichments.as_object().cloned().unwrap_or_default();
        e
    }
}

fn stage(config: &KolConfig) -> KolStage {
    let vectors: Vec<Vec<f32>> = (0..config.briefs.len()).map(|i| basis(i, 1.0)).collect();
    KolStage::with_brief_vectors(config, &vectors).unwrap()
}

/// A 384-float vector along axis `i` (with `rest` spread on axis 383).
fn basis(i: usize, along: f32) -> Vec<f32> {
    let mut v = vec![0.0; 384];
    v[i] = along;
    v[383] += (1.0 - along * along).max(0.0).sqrt();
    v
}

async fn run(stage: &mut KolStage, state: &mut KeyedState, posts: &[P]) -> Vec<Envelope> {
    let out = stage.process_keyed(posts.iter().map(P::envelope).collect(), state).await;
    out.into_iter().map(|r| r.map_err(|f| f.error).unwrap()).collect()
}

fn scores(envelopes: Vec<Envelope>) -> Vec<KolScoreRecord> {
    envelopes.iter().map(|e| e.payload_as::<KolScoreRecord>().unwrap()).collect()
}

fn factor<'a>(score: &'a KolScoreRecord, name: &str) -> &'a socialpipe_schemas::KolFactor {
    score.factors.iter().find(|f| f.name == name).unwrap()
}

fn with_brief() -> KolConfig {
    KolConfig {
        briefs: BTreeMap::from([(
            "skincare".to_owned(),
            Brief { text: Some("skincare routines".into()), keywords: vec!["serum".into()] },
        )]),
        ..Default::default()
    }
}

/// The enrichments the kol stage reads, as the earlier stages write them.
fn enriched(safe: bool, compound: f64, similarity: f32) -> Value {
    use socialpipe_schemas::enrichment::{self, BrandSafety, Embedding, LabelSource, Sentiment, SentimentLabel};
    let label = SentimentLabel::of_compound(compound);
    let mut e = serde_json::Map::new();
    let score = if safe { 1.0 } else { 0.4 };
    enrichment::write(&mut e, &BrandSafety { score, safe, flags: vec![], terms: BTreeMap::new() });
    let vader = enrichment::VaderScores { neg: 0.0, neu: 1.0, pos: 0.0, compound, label };
    let sentiment =
        Sentiment { vader, model: None, label, label_source: LabelSource::Vader, reliable: true, unreliable_reason: None };
    enrichment::write(&mut e, &sentiment);
    enrichment::write(&mut e, &Embedding(basis(0, similarity)));
    Value::Object(e)
}

/// Content relevance takes the best brief and lists every brief's
/// relevance, so stores can show why one brief won.
#[tokio::test]
async fn content_relevance_names_the_best_brief_and_every_briefs_relevance() {
    let config = KolConfig {
        briefs: BTreeMap::from([
            ("a_text".to_owned(), Brief { text: Some("skincare routines".into()), keywords: vec![] }),
            ("b_keywords".to_owned(), Brief { text: None, keywords: vec!["serum".into()] }),
        ]),
        ..Default::default()
    };
    let mut stage = stage(&config);
    let mut state = KeyedState::default();
    let posts: Vec<P> = (0..4)
        .map(|i| P {
            text: if i % 2 == 0 { "my serum routine" } else { "a day out" },
            enrichments: enriched(true, 0.3, 0.6),
            ..P::new(i, "alice", f64::from(i))
        })
        .collect();
    run(&mut stage, &mut state, &posts).await;
    stage.finish(&mut state);
    let score = scores(stage.take_emitted()).pop().unwrap();
    let relevance = factor(&score, "content_relevance");
    // Similarity 0.6 is past relevance_full (1.0); keywords in 2 of 4 posts (0.5).
    assert_eq!(relevance.inputs["brief"], "a_text");
    assert_eq!(relevance.inputs["briefs"], serde_json::json!({"a_text": 1.0, "b_keywords": 0.5}));
    assert_eq!(relevance.value, Some(1.0));
}

#[tokio::test]
async fn a_score_has_five_explained_factors_in_range_and_a_tier() {
    let config = with_brief();
    let mut stage = stage(&config);
    let mut state = KeyedState::default();
    let posts: Vec<P> = (0..6)
        .map(|i| P {
            text: if i % 2 == 0 { "my serum routine" } else { "a day out" },
            enrichments: enriched(i != 5, if i == 4 { -0.9 } else { 0.3 }, 0.6),
            likes: 150,
            ..P::new(i, "alice", f64::from(i) * 2.0)
        })
        .collect();
    run(&mut stage, &mut state, &posts).await;
    stage.finish(&mut state);
    let score = scores(stage.take_emitted()).pop().unwrap();
    assert_eq!(score.author_id, "twitter:alice");
    assert_eq!(score.tier, "micro");
    assert_eq!(score.posts, 6);
    assert_eq!(score.record_id(), format!("twitter:alice@{}", "2026-01-11T00:00:00.000Z"));
    let names: Vec<&str> = score.factors.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["engagement", "follower_quality", "content_relevance", "brand_safety", "posting_consistency"]);
    for f in &score.factors {
        let v = f.value.unwrap_or_else(|| panic!("{} unavailable: {}", f.name, f.explanation));
        assert!((0.0..=1.0).contains(&v), "{}: {v}", f.name);
        assert!((f.effective_weight - f.weight).abs() < 1e-12, "all available: weights as configured");
    }
    // (150 + 10) / 20,000 = 0.8 %, twitter's micro benchmark: 1 − 2^−1.
    let engagement = factor(&score, "engagement");
    assert_eq!(engagement.explanation, "engagement 0.8 % vs 0.8 % micro-tier benchmark (median of 6 posts, 1.0×)");
    assert!((engagement.value.unwrap() - 0.5).abs() < 1e-9);
    assert_eq!(factor(&score, "brand_safety").explanation, "1 of 6 posts flagged unsafe, 1 of 6 strongly negative");
    let relevance = factor(&score, "content_relevance");
    assert_eq!(relevance.explanation, "best brief \"skincare\": centroid similarity 0.60, keywords in 3 of 6 posts");
    // 0.75 × ramp(0.6) + 0.25 × 0.5 = 0.75 + 0.125.
    assert!((relevance.value.unwrap() - 0.875).abs() < 1e-9);
    let expected: f64 = score.factors.iter().map(|f| f.weight * f.value.unwrap()).sum::<f64>() * 100.0;
    assert!((score.score - expected).abs() < 1e-9, "{} vs {expected}", score.score);
}

#[tokio::test]
async fn a_missing_input_makes_its_factor_unavailable_and_renormalises_the_rest() {
    let config = with_brief();
    let mut stage = stage(&config);
    let mut state = KeyedState::default();
    // Keywords only on a brief with a text, no embedding, no safety or sentiment.
    run(&mut stage, &mut state, &[P { text: "no match", ..P::new(1, "bob", 0.0) }]).await;
    let score = scores(stage.take_emitted()).pop().unwrap();
    let safety = factor(&score, "brand_safety");
    assert_eq!((safety.value, safety.effective_weight), (None, 0.0));
    assert_eq!(safety.explanation, "unavailable: no brand_safety or sentiment stage before kol");
    let relevance = factor(&score, "content_relevance");
    assert_eq!(
        relevance.explanation,
        "best brief \"skincare\": keywords in 0 of 1 posts (no embeddings: keywords only)"
    );
    let total: f64 = score.factors.iter().map(|f| f.effective_weight).sum();
    assert!((total - 1.0).abs() < 1e-12, "renormalised weights sum to 1: {total}");
    assert!((factor(&score, "engagement").effective_weight - 0.30 / 0.85).abs() < 1e-12);

    let mut no_briefs = KolStage::with_brief_vectors(&KolConfig::default(), &[]).unwrap();
    run(&mut no_briefs, &mut KeyedState::default(), &[P::new(1, "bob", 0.0)]).await;
    let score = scores(no_briefs.take_emitted()).pop().unwrap();
    assert_eq!(factor(&score, "content_relevance").explanation, "unavailable: no briefs configured");
}

#[tokio::test]
async fn a_post_counts_once_and_a_fresher_copy_replaces_it() {
    let mut stage = stage(&KolConfig::default());
    let mut state = KeyedState::default();
    run(&mut stage, &mut state, &[P::new(1, "carol", 0.0), P::new(2, "carol", 1.0)]).await;
    let again = run(&mut stage, &mut state, &[P::new(1, "carol", 0.0)]).await;
    assert_eq!(again[0].enrichments["kol"]["counted"], false);
    assert_eq!(again[0].enrichments["kol"]["reason"], "duplicate: this post is already counted");
    let mut fresher = P { likes: 10_000, ..P::new(1, "carol", 0.0) }.envelope();
    fresher.version = 2;
    let out = stage.process_keyed(vec![fresher], &mut state).await;
    assert_eq!(out[0].as_ref().unwrap().enrichments["kol"]["counted"], true);
    stage.take_emitted();
    stage.finish(&mut state);
    let score = scores(stage.take_emitted()).pop().unwrap();
    assert_eq!(score.posts, 2, "two distinct posts however often they came");
    // Median of 10,010 / 20,000 and 110 / 20,000.
    let rate = factor(&score, "engagement").inputs["median_rate"].as_f64().unwrap();
    assert!((rate - (10_010.0 + 110.0) / 2.0 / 20_000.0).abs() < 1e-12, "{rate}");
}

#[tokio::test]
async fn scores_come_at_most_once_per_interval_of_event_time_and_the_last_at_finish() {
    let config = KolConfig { emit_interval_minutes: 24 * 60, ..Default::default() };
    let mut stage = stage(&config);
    let mut state = KeyedState::default();
    // Posts every 6 hours for 3 days: emitted at day 0, 1, 2 (the first post
    // of each day), and the last (day 2.75) only when the input ends.
    let posts: Vec<P> = (0..12).map(|i| P::new(i, "dave", f64::from(i) / 4.0)).collect();
    run(&mut stage, &mut state, &posts).await;
    let times: Vec<String> = scores(stage.take_emitted()).iter().map(|s| s.computed_at.to_rfc3339()).collect();
    assert_eq!(times, ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00"]);
    stage.finish(&mut state);
    let last = scores(stage.take_emitted());
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].computed_at.to_rfc3339(), "2026-01-03T18:00:00+00:00");
    assert_eq!(last[0].posts, 12);
    stage.finish(&mut state);
    assert!(stage.take_emitted().is_empty(), "nothing changed since: nothing to emit");
}

#[tokio::test]
async fn posts_later_than_the_allowed_lateness_do_not_count_and_the_window_moves_with_the_newest() {
    let config = KolConfig { allowed_lateness_hours: Some(48), ..Default::default() };
    let mut stage = stage(&config);
    let mut state = KeyedState::default();
    let out =
        run(&mut stage, &mut state, &[P::new(1, "erin", 10.0), P::new(2, "erin", 9.0), P::new(3, "erin", 7.0)]).await;
    let counted: Vec<&Value> = out.iter().map(|e| &e.enrichments["kol"]["counted"]).collect();
    assert_eq!(counted, [true, true, false]);
    assert_eq!(
        out[2].enrichments["kol"]["reason"],
        "late: 72.0 h behind the author's newest post (allowed lateness 48 h)"
    );
    // Day 45: the posts of days 9 and 10 are more than 30 days older.
    run(&mut stage, &mut state, &[P::new(4, "erin", 45.0)]).await;
    assert_eq!(scores(stage.take_emitted()).last().unwrap().posts, 1);
}

#[tokio::test]
async fn a_window_restored_from_its_saved_text_continues_as_if_never_stopped() {
    let config = with_brief();
    let posts: Vec<P> = (0..40)
        .map(|i| P {
            likes: u64::from(i * 37 % 200),
            followers: Some(9_000 + u64::from(i) * 400),
            enrichments: enriched(i % 7 != 0, f64::from(i % 5) / 2.0 - 1.0, 0.2 + (i % 4) as f32 / 10.0),
            ..P::new(i, if i % 3 == 0 { "fay" } else { "gus" }, f64::from(i) * 0.7)
        })
        .collect();
    let uninterrupted = {
        let mut stage = stage(&config);
        let mut state = KeyedState::default();
        run(&mut stage, &mut state, &posts).await;
        stage.finish(&mut state);
        scores(stage.take_emitted())
    };
    let mut stage = stage(&config);
    let mut state = KeyedState::default();
    run(&mut stage, &mut state, &posts[..17]).await;
    let mut emitted = scores(stage.take_emitted());
    let mut restored = KeyedState::default();
    restore(&mut state, &mut restored);
    let mut stage = self::stage(&config);
    run(&mut stage, &mut restored, &posts[17..]).await;
    stage.finish(&mut restored);
    emitted.extend(scores(stage.take_emitted()));
    assert_eq!(comparable(uninterrupted), comparable(emitted));
}

/// What the changelog would hold of `state`'s changes, restored into a new worker's `into`.
fn restore(state: &mut KeyedState, into: &mut KeyedState) {
    for (key, value) in state.take_changes() {
        into.load(key, value.map(|v| serde_json::value::RawValue::from_string(v.get().to_owned()).unwrap()));
    }
}

/// Scores as the stores keep them, whatever batch emitted them: by record
/// id, without the wall-clock `emitted_at`.
fn comparable(scores: Vec<KolScoreRecord>) -> Vec<KolScoreRecord> {
    let mut scores: Vec<KolScoreRecord> =
        scores.into_iter().map(|s| KolScoreRecord { emitted_at: Default::default(), ..s }).collect();
    scores.sort_by_key(KolScoreRecord::record_id);
    scores
}

#[tokio::test]
async fn follower_jumps_and_young_accounts_with_large_audiences_are_flagged() {
    let mut stage = stage(&KolConfig::default());
    let mut state = KeyedState::default();
    let mut posts = vec![P { followers: Some(50_000), ..P::new(1, "hal", 0.0) }];
    posts.push(P { followers: Some(90_000), ..P::new(2, "hal", 1.0) });
    run(&mut stage, &mut state, &posts).await;
    stage.finish(&mut state);
    let score = scores(stage.take_emitted()).pop().unwrap();
    let quality = factor(&score, "follower_quality");
    assert!(quality.explanation.contains("followers jumped 80.0 % in a day"), "{}", quality.explanation);
    assert!(quality.value.unwrap() < 1.0);

    let mut young = P::new(3, "ivy", 100.0).envelope();
    let mut payload: Value = serde_json::from_str(young.payload.get()).unwrap();
    payload["author"]["created_at"] = json!("2026-03-01T00:00:00Z");
    payload["author"]["followers"] = json!(400_000);
    young.payload = Envelope::encode_payload(&payload);
    stage.process_keyed(vec![young], &mut state).await;
    let score = scores(stage.take_emitted()).pop().unwrap();
    let quality = factor(&score, "follower_quality");
    assert!(quality.explanation.contains("400000 followers on an account 41 days old"), "{}", quality.explanation);
    assert_eq!(score.tier, "mid");
}

#[test]
fn tiers_follow_the_follower_bounds() {
    let tiers: Vec<&str> =
        [0, 9_999, 10_000, 99_999, 100_000, 499_999, 500_000, 999_999, 1_000_000].map(|f| Tier::of(f).name()).to_vec();
    assert_eq!(tiers, ["nano", "nano", "micro", "micro", "mid", "mid", "macro", "macro", "mega"]);
}

#[test]
fn weights_must_be_fractions_that_sum_to_one() {
    let mut config = KolConfig::default();
    config.weights.engagement = 0.5;
    assert!(config.check().unwrap_err().contains("weights must sum to 1"));
    config.weights.engagement = -0.1;
    assert!(config.check().unwrap_err().contains("weights.engagement"));
    let parsed: Result<KolConfig, _> = toml::from_str("[weights]\nengagment = 0.3");
    assert!(parsed.unwrap_err().to_string().contains("unknown field"));
}

/// id, day, likes, followers, following, safe, compound, similarity.
type RawPost = (u32, f64, u64, Option<u64>, Option<u64>, bool, f64, f32);

/// Posts of one author with any metrics, audience and enrichments.
fn arbitrary_posts() -> impl Strategy<Value = Vec<RawPost>> {
    prop::collection::vec(
        (
            0..50u32,
            0.0..90.0f64,
            0..5_000_000u64,
            prop::option::of(0..20_000_000u64),
            prop::option::of(0..20_000_000u64),
            any::<bool>(),
            -1.0..1.0f64,
            -1.0..1.0f32,
        ),
        1..40,
    )
}

fn posts_of(raw: &[RawPost]) -> Vec<P> {
    raw.iter()
        .map(|&(id, day, likes, followers, following, safe, compound, similarity)| P {
            likes,
            followers,
            following,
            enrichments: enriched(safe, compound, similarity),
            ..P::new(id, "kim", day)
        })
        .collect()
}

fn final_score(config: &KolConfig, posts: &[P]) -> KolScoreRecord {
    let mut stage = stage(config);
    let mut state = KeyedState::default();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(run(&mut stage, &mut state, posts));
    stage.finish(&mut state);
    let mut emitted = scores(stage.take_emitted());
    emitted.sort_by_key(|s| s.computed_at);
    emitted.pop().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_score_and_factor_stays_in_range(raw in arbitrary_posts()) {
        let score = final_score(&with_brief(), &posts_of(&raw));
        prop_assert!((0.0..=100.0).contains(&score.score), "score {}", score.score);
        for f in &score.factors {
            if let Some(v) = f.value {
                prop_assert!((0.0..=1.0).contains(&v), "{} = {v}: {}", f.name, f.explanation);
            }
        }
        let weights: f64 = score.factors.iter().map(|f| f.effective_weight).sum();
        prop_assert!((weights - 1.0).abs() < 1e-9);
    }

    #[test]
    fn more_engagement_never_lowers_the_engagement_factor(raw in arbitrary_posts(), which in any::<prop::sample::Index>(), more in 1..1_000_000u64) {
        let posts = posts_of(&raw);
        let before = final_score(&with_brief(), &posts);
        let mut posts = posts;
        let i = which.index(posts.len());
        posts[i].likes += more;
        let after = final_score(&with_brief(), &posts);
        let value = |s: &KolScoreRecord| factor(s, "engagement").value;
        match (value(&before), value(&after)) {
            (Some(b), Some(a)) => prop_assert!(a >= b, "{b} -> {a}"),
            (b, a) => prop_assert_eq!(b.is_some(), a.is_some()),
        }
    }
}

/// A roster row for twitter author `id`, as of 2026-01-01 + `day`, saying `followers`.
fn roster_row(id: &str, day: f64, followers: u64) -> Envelope {
    use socialpipe_schemas::{AuthorSnapshot, Profile, RecordKind, SheetRowRecord};
    let at = chrono::DateTime::from_timestamp_millis(1_767_225_600_000 + (day * DAY as f64) as i64).unwrap();
    let author = AuthorSnapshot {
        platform: "twitter".into(),
        id: id.into(),
        profile: Profile {
            handle: Some(format!("{id}_official")),
            name: None,
            followers: Some(followers),
            following: Some(10),
        },
        rate: Some(250.0),
        category: Some("coffee".into()),
    };
    let row = SheetRowRecord {
        file_id: "f1".into(),
        file_name: "kols.xlsx".into(),
        sheet: "Roster".into(),
        row_key: id.into(),
        row_number: 2,
        cells: Default::default(),
        content_hash: "h".into(),
        author: Some(author.clone()),
    };
    let payload = Envelope::encode_payload(&row);
    Envelope::new(RecordKind::SheetRow, row.record_id(), author.author_id(), "rosters", at, payload)
}

#[tokio::test]
async fn a_roster_row_gives_the_author_a_follower_snapshot_and_handle_that_the_score_uses() {
    let config = KolConfig::default();
    let mut stage = stage(&config);
    let mut state = KeyedState::default();
    let mut post = P::new(1, "erin", 1.0);
    post.followers = None;
    run(&mut stage, &mut state, &[post]).await;
    stage.finish(&mut state);
    assert_eq!(scores(stage.take_emitted())[0].tier, "unknown", "posts without follower counts: no tier");

    // The roster (a day later) says 150k followers: the window is rescored with them.
    let out = stage.process_keyed(vec![roster_row("erin", 2.0, 150_000)], &mut state).await;
    let row = out.into_iter().next().unwrap().map_err(|f| f.error).unwrap();
    assert_eq!(row.enrichments["kol"], json!({"author_id": "twitter:erin", "roster": true}));
    stage.finish(&mut state);
    let rescored = scores(stage.take_emitted());
    assert_eq!(rescored.len(), 1);
    assert_eq!((rescored[0].followers, rescored[0].tier.as_str()), (Some(150_000), "mid"));
    assert_eq!(rescored[0].handle.as_deref(), Some("erin_official"));

    // An author known only from a roster has no score, and a sheet row without an author passes untouched.
    stage.process_keyed(vec![roster_row("frank", 1.0, 9_000)], &mut state).await;
    stage.finish(&mut state);
    assert!(stage.take_emitted().is_empty());
}

/// Runs `records` through the stage `per_batch` at a time, taking what it
/// emits after each batch, as the runner does.
async fn run_batches(
    stage: &mut KolStage,
    state: &mut KeyedState,
    records: &[Envelope],
    per_batch: usize,
) -> Vec<KolScoreRecord> {
    let mut emitted = Vec::new();
    for batch in records.chunks(per_batch) {
        for outcome in stage.process_keyed(batch.to_vec(), state).await {
            outcome.map_err(|f| f.error).unwrap();
        }
        emitted.extend(scores(stage.take_emitted()));
    }
    emitted
}

/// Every key with its value's text.
fn contents(state: &KeyedState) -> BTreeMap<String, String> {
    state.keys().map(|key| (key.to_owned(), state.get(key).unwrap().get().to_owned())).collect()
}

fn sorted_keys(state: &KeyedState) -> Vec<&str> {
    let mut keys: Vec<&str> = state.keys().collect();
    keys.sort();
    keys
}

/// The `computed_at` and post count of each of twitter `author`'s scores, in order.
fn scores_of(scores: &[KolScoreRecord], author: &str) -> Vec<(String, u32)> {
    let id = format!("twitter:{author}");
    scores.iter().filter(|s| s.author_id == id).map(|s| (s.computed_at.to_rfc3339(), s.posts)).collect()
}

/// A sixty-fourth of a day, 22.5 minutes: inside the default emit interval.
const SOON: f64 = 1.0 / 64.0;

#[tokio::test]
async fn an_author_idle_longer_than_the_span_leaves_the_state_after_its_held_back_score_and_active_ones_stay() {
    let config = KolConfig::default();
    assert_eq!(config.evict_idle_ms(), Some(30 * DAY), "the span defaults to the 30-day window");
    let mut stage = stage(&config);
    let mut state = KeyedState::default();
    let early = [P::new(1, "old", 0.0), P::new(2, "old", SOON), P::new(3, "steady", 0.0), P::new(4, "steady", 15.0)];
    run(&mut stage, &mut state, &early).await;
    let emitted = scores(stage.take_emitted());
    assert_eq!(scores_of(&emitted, "old"), [("2026-01-01T00:00:00+00:00".into(), 1)], "the second is held back");
    state.take_changes();

    // Day 40: old has been idle for 40 days, steady for 25.
    run(&mut stage, &mut state, &[P::new(5, "new", 40.0)]).await;
    let emitted = scores(stage.take_emitted());
    assert_eq!(scores_of(&emitted, "old"), [("2026-01-01T00:22:30+00:00".into(), 2)], "the held-back score");
    let changes = state.take_changes();
    let removed: Vec<&str> = changes.iter().filter(|(_, value)| value.is_none()).map(|(key, _)| key.as_str()).collect();
    assert_eq!(removed, ["twitter:old"], "the removal goes to the changelog");
    assert_eq!(sorted_keys(&state), ["twitter:new", "twitter:steady"]);

    stage.finish(&mut state);
    assert!(scores_of(&scores(stage.take_emitted()), "old").is_empty(), "its score was emitted once");
}

#[tokio::test]
async fn an_idle_author_who_posts_again_starts_a_new_window_after_its_held_back_score() {
    let mut stage = stage(&KolConfig::default());
    let mut state = KeyedState::default();
    // One batch: old's return comes before any batch end could evict it.
    let posts = [P::new(1, "old", 0.0), P::new(2, "old", SOON), P::new(3, "new", 40.0), P::new(4, "old", 41.0)];
    run(&mut stage, &mut state, &posts).await;
    let emitted = scores(stage.take_emitted());
    assert_eq!(
        scores_of(&emitted, "old"),
        [
            ("2026-01-01T00:00:00+00:00".into(), 1),
            ("2026-01-01T00:22:30+00:00".into(), 2),
            ("2026-02-11T00:00:00+00:00".into(), 1)
        ]
    );
}

#[tokio::test]
async fn with_evict_idle_days_0_idle_authors_stay_and_a_span_shorter_than_the_window_is_refused() {
    let never = KolConfig { evict_idle_days: Some(0), ..Default::default() };
    let mut stage = stage(&never);
    let mut state = KeyedState::default();
    run(&mut stage, &mut state, &[P::new(1, "old", 0.0), P::new(2, "new", 400.0)]).await;
    assert_eq!(sorted_keys(&state), ["twitter:new", "twitter:old"]);

    let short = KolConfig { evict_idle_days: Some(29), ..Default::default() };
    assert!(short.check().unwrap_err().contains("evict_idle_days must be 0 (never) or at least window_days (30)"));
    assert!(KolConfig { evict_idle_days: Some(30), ..Default::default() }.check().is_ok());
}

/// Authors who go idle, come back, post late, and show up on a roster.
fn comings_and_goings() -> Vec<Envelope> {
    let mut records: Vec<Envelope> = [
        P::new(1, "ann", 0.0),
        P::new(2, "ann", SOON), // held back
        P::new(3, "bea", 1.0),
        P::new(4, "cid", 5.0),
        P::new(5, "bea", 3.0),
        P::new(6, "dan", 10.0),
        P::new(7, "cid", 20.0),
        P::new(8, "bea", 2.5),  // late, counted
        P::new(9, "cid", 36.0), // ann and bea are idle
        P::new(10, "bea", 2.75), // after bea left: a new window, idle from the start
        P::new(11, "ann", 50.0), // back
        P::new(12, "ann", 50.0 + SOON),
        P::new(13, "cid", 61.0),
        P::new(14, "eve", 81.0), // ann and dan are idle
    ]
    .iter()
    .map(P::envelope)
    .collect();
    records.insert(9, roster_row("dan", 44.0, 30_000)); // dan is active again, without a post
    records
}

#[tokio::test]
async fn a_run_split_anywhere_and_restored_from_its_changes_emits_and_keeps_what_one_run_does() {
    let config = KolConfig::default();
    let records = comings_and_goings();
    let (one_run, one_state) = {
        let mut stage = stage(&config);
        let mut state = KeyedState::default();
        let mut emitted = run_batches(&mut stage, &mut state, &records, 4).await;
        stage.finish(&mut state);
        emitted.extend(scores(stage.take_emitted()));
        (comparable(emitted), contents(&state))
    };
    assert_eq!(sorted_keys_of(&one_state), ["twitter:cid", "twitter:eve"], "the others left");

    for split in 0..=records.len() {
        let mut stage = stage(&config);
        let mut state = KeyedState::default();
        let mut emitted = run_batches(&mut stage, &mut state, &records[..split], 3).await;
        // A new worker, its state restored from the changelog.
        let mut restored = KeyedState::default();
        restore(&mut state, &mut restored);
        let mut stage = self::stage(&config);
        emitted.extend(run_batches(&mut stage, &mut restored, &records[split..], 3).await);
        stage.finish(&mut restored);
        emitted.extend(scores(stage.take_emitted()));
        assert_eq!(comparable(emitted), one_run, "split before record {split}");
        assert_eq!(contents(&restored), one_state, "split before record {split}");
    }
}

fn sorted_keys_of(contents: &BTreeMap<String, String>) -> Vec<&str> {
    contents.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn an_author_is_idle_by_its_partitions_clock_however_the_partitions_interleave() {
    let config = KolConfig::default();
    // Authors whose names start with s are in partition 1, the others in 0.
    let partition = |key: &str| u32::from(key.starts_with("twitter:s"));
    let fast: Vec<Envelope> = [P::new(1, "fay", 0.0), P::new(2, "fay", 100.0)].iter().map(P::envelope).collect();
    let slow: Vec<Envelope> =
        [P::new(3, "sal", 0.0), P::new(4, "sue", 10.0), P::new(5, "sid", 35.0)].iter().map(P::envelope).collect();
    let alternating = vec![
        slow[0].clone(),
        fast[0].clone(),
        slow[1].clone(),
        fast[1].clone(),
        slow[2].clone(),
    ];
    let mut outcomes = Vec::new();
    for records in [[fast.clone(), slow.clone()].concat(), [slow.clone(), fast.clone()].concat(), alternating] {
        let mut stage = stage(&config);
        let mut state = KeyedState::partitioned(partition);
        let mut emitted = run_batches(&mut stage, &mut state, &records, 2).await;
        stage.finish(&mut state);
        emitted.extend(scores(stage.take_emitted()));
        outcomes.push((comparable(emitted), contents(&state)));
    }
    // sal was idle 35 days when sid posted; sue only 25, though fay's partition is at day 100.
    assert_eq!(sorted_keys_of(&outcomes[0].1), ["twitter:fay", "twitter:sid", "twitter:sue"]);
    assert_eq!(outcomes[1], outcomes[0]);
    assert_eq!(outcomes[2], outcomes[0]);
}

/// A roster is dated when its file was written, often long after the posts
/// it sits beside (a backfill): its rows keep their own authors active but
/// do not move the partition's clock, which only posts do. Else every
/// author of the partition would leave the state at its next post and
/// start a window of one post.
#[tokio::test]
async fn a_roster_dated_after_the_posts_makes_no_author_idle() {
    let mut stage = stage(&KolConfig::default());
    let mut state = KeyedState::default();
    let records = vec![
        P::new(1, "ann", 0.0).envelope(),
        P::new(2, "bea", 1.0).envelope(),
        roster_row("cid", 100.0, 5_000), // listed, no posts
        roster_row("bea", 100.0, 5_000),
        P::new(3, "ann", 2.0).envelope(),
        P::new(4, "bea", 3.0).envelope(),
    ];
    let mut emitted = run_batches(&mut stage, &mut state, &records, 1).await;
    stage.finish(&mut state);
    emitted.extend(scores(stage.take_emitted()));
    assert_eq!(scores_of(&emitted, "ann").last().map(|s| s.1), Some(2), "ann's window holds both posts");
    assert_eq!(scores_of(&emitted, "bea").last().map(|s| s.1), Some(2), "bea's too");
    assert_eq!(sorted_keys(&state), ["twitter:ann", "twitter:bea", "twitter:cid"]);
}

#[tokio::test]
async fn whether_an_author_is_idle_depends_on_event_time_not_the_wall_clock() {
    // Dated 40 years ago, now, or 60 years ahead: the same author leaves.
    for shift in [-40.0 * 365.0, 0.0, 60.0 * 365.0] {
        let mut stage = stage(&KolConfig::default());
        let mut state = KeyedState::default();
        let posts = [P::new(1, "old", shift), P::new(2, "steady", shift + 15.0), P::new(3, "new", shift + 40.0)];
        run(&mut stage, &mut state, &posts).await;
        assert_eq!(sorted_keys(&state), ["twitter:new", "twitter:steady"], "shifted by {shift} days");
    }
}

#[tokio::test]
async fn a_partition_handed_to_a_running_stage_is_judged_by_the_authors_restored_with_it() {
    let config = KolConfig::default();
    let partition = |key: &str| u32::from(key.starts_with("twitter:s"));
    // Another worker had partition 1.
    let mut elsewhere = KeyedState::partitioned(partition);
    let before = [P::new(1, "sal", 0.0), P::new(2, "sal", SOON), P::new(3, "sue", 20.0)];
    run(&mut stage(&config), &mut elsewhere, &before).await;

    let mut stage = stage(&config);
    let mut state = KeyedState::partitioned(partition);
    run(&mut stage, &mut state, &[P::new(4, "fay", 0.0)]).await;
    stage.take_emitted();
    restore(&mut elsewhere, &mut state);
    // Day 40 in partition 1: sal has been idle for 40 days; fay's partition is at day 0.
    run(&mut stage, &mut state, &[P::new(5, "sid", 40.0)]).await;
    assert_eq!(scores_of(&scores(stage.take_emitted()), "sal"), [("2026-01-01T00:22:30+00:00".into(), 2)]);
    assert_eq!(sorted_keys(&state), ["twitter:fay", "twitter:sid", "twitter:sue"]);
}
