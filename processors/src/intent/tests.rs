use super::{IntentConfig, IntentLabel, IntentStage};
use crate::TextEnricher;

fn classify(text: &str) -> IntentLabel {
    IntentStage::new(&IntentConfig::default()).0.classify(text).label
}

fn labelled(tsv: &str) -> Vec<(IntentLabel, &str)> {
    tsv.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (label, text) = l.split_once('\t').unwrap();
            (serde_json::from_value(serde_json::json!(label)).unwrap(), text)
        })
        .collect()
}

/// Per class (precision, recall), and macro F1.
fn evaluate(set: &[(IntentLabel, &str)]) -> (Vec<(IntentLabel, f64, f64)>, f64) {
    let classes = [IntentLabel::Purchase, IntentLabel::Complaint, IntentLabel::Question, IntentLabel::Recommendation, IntentLabel::Other];
    let predicted: Vec<IntentLabel> = set.iter().map(|(_, t)| classify(t)).collect();
    let per_class: Vec<(IntentLabel, f64, f64)> = classes
        .iter()
        .map(|&c| {
            let tp = set.iter().zip(&predicted).filter(|((l, _), p)| *l == c && **p == c).count() as f64;
            let predicted_c = predicted.iter().filter(|p| **p == c).count() as f64;
            let actual_c = set.iter().filter(|(l, _)| *l == c).count() as f64;
            (c, if predicted_c > 0.0 { tp / predicted_c } else { 0.0 }, tp / actual_c)
        })
        .collect();
    let f1 = per_class.iter().map(|(_, p, r)| if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 }).sum::<f64>()
        / per_class.len() as f64;
    (per_class, f1)
}

/// The development half is what the patterns were written from; the
/// held-out half measures them. The floors catch a pattern change that
/// breaks what works; the numbers are in the closing notes.
#[test]
fn intent_evaluation_on_the_development_and_held_out_halves() {
    for (name, tsv, floor) in
        [("dev", include_str!("eval/dev.tsv"), 0.85), ("holdout", include_str!("eval/holdout.tsv"), 0.7)]
    {
        let set = labelled(tsv);
        assert!(set.len() >= 200, "{name}: {} posts", set.len());
        let (per_class, f1) = evaluate(&set);
        for (c, p, r) in &per_class {
            eprintln!("{name} {c:?}: precision {p:.3} recall {r:.3}");
        }
        eprintln!("{name}: macro F1 {f1:.3}");
        assert!(f1 >= floor, "{name}: macro F1 {f1:.3} below {floor}");
    }
}

#[test]
fn typical_posts_of_each_class() {
    assert_eq!(classify("Where can I buy the X2 in Lyon?"), IntentLabel::Purchase);
    assert_eq!(classify("I want a refund, the charger doesn’t work"), IntentLabel::Complaint);
    assert_eq!(classify("Should I get the Pro or the Air?"), IntentLabel::Question);
    assert_eq!(classify("Highly recommend this serum"), IntentLabel::Recommendation);
    assert_eq!(classify("Lovely weather in Porto today"), IntentLabel::Other);
}

#[test]
fn the_enrichment_explains_itself() {
    let stage = IntentStage::new(&IntentConfig::default());
    let v = serde_json::to_value(stage.0.enrich("Refund please, it arrived broken", &serde_json::Map::new())).unwrap();
    assert_eq!(v["label"], "complaint");
    let confidence = v["confidence"].as_f64().unwrap();
    assert!(confidence > 0.9 && confidence <= 1.0, "{v}");
    assert_eq!(v["signals"], serde_json::json!(["refund", "broken"]));
    assert_eq!(v["scores"]["purchase"], 0.0);
}
