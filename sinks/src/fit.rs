//! Integers a store can hold. Raw posts allow counts up to u64; stores whose
//! integers are signed 64-bit refuse a larger count with the reason rather
//! than wrap or clamp it.

use socialpipe_schemas::ComponentError;

use crate::batch::Record;

/// Refuses a record with a count beyond i64 (then [`as_i64`] is exact for
/// it): a post's metrics and author counts, a sheet row's number and its
/// roster author's counts, a KOL score's followers. Every store keeps them
/// as integers.
pub fn counts_fit_i64(record: &Record) -> Result<(), ComponentError> {
    let counts = match record {
        Record::Post { post, .. } => {
            let (m, a) = (&post.metrics, &post.author.profile);
            vec![
                (m.likes, "metrics.likes"),
                (m.comments, "metrics.comments"),
                (m.shares, "metrics.shares"),
                (m.views, "metrics.views"),
                (a.followers, "author.followers"),
                (a.following, "author.following"),
            ]
        }
        Record::Sheet { row, .. } => {
            let mut counts = vec![(Some(row.row_number), "row_number")];
            if let Some(author) = &row.author {
                counts.push((author.profile.followers, "author.followers"));
                counts.push((author.profile.following, "author.following"));
            }
            counts
        }
        Record::Kol { score, .. } => vec![(score.followers, "followers")],
    };
    for (value, field) in counts {
        if let Some(v) = value.filter(|v| i64::try_from(*v).is_err()) {
            return Err(ComponentError::invalid(format!("{field} = {v} exceeds a signed 64-bit integer")));
        }
    }
    Ok(())
}

/// A count of a record that passed [`counts_fit_i64`], as the store's integer.
pub fn as_i64(count: u64) -> i64 {
    i64::try_from(count).expect("counts_fit_i64 refused counts beyond i64")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::DecodedBatch;

    #[test]
    fn a_follower_count_beyond_i64_is_refused() {
        let (mut score, _) = crate::testing::kol_score("p", "2026-11-20T00:00:00Z", 50.0);
        score.followers = Some(u64::MAX);
        let envelope = socialpipe_schemas::Envelope::new(
            socialpipe_schemas::RecordKind::KolScore,
            score.record_id(),
            score.author_id.clone(),
            "kol",
            score.computed_at,
            socialpipe_schemas::Envelope::encode_payload(&score),
        );
        let batch = [envelope];
        let decoded = DecodedBatch::decode(&batch, "test");
        let record = &decoded.records[0].1;
        let refusal = counts_fit_i64(record).unwrap_err();
        assert_eq!(refusal.reason, format!("followers = {} exceeds a signed 64-bit integer", u64::MAX));
    }
}
