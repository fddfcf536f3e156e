//! Integers a store can hold. Raw posts allow counts up to u64; stores whose
//! integers are signed 64-bit refuse a larger count with the reason rather
//! than wrap or clamp it.

use socialpipe_schemas::ComponentError;

use crate::batch::Record;

/// Which of a record's counts a store keeps as signed 64-bit integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// A post's metrics and author counts, and a sheet row's number.
    Typed,
    /// Those, and the follower counts of roster authors and KOL scores
    /// (stores that keep every field of those records as a number).
    All,
}

/// Refuses a record with a count beyond i64 among those the store keeps
/// (then [`as_i64`] is exact for them).
pub fn counts_fit_i64(record: &Record, kept: Counts) -> Result<(), ComponentError> {
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
            if let (Counts::All, Some(author)) = (kept, &row.author) {
                counts.push((author.profile.followers, "author.followers"));
                counts.push((author.profile.following, "author.following"));
            }
            counts
        }
        Record::Kol { score, .. } => match kept {
            Counts::All => vec![(score.followers, "followers")],
            Counts::Typed => Vec::new(),
        },
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

    // A score's followers beyond i64 were always stored by the stores that
    // keep them only in JSON (or not at all); only the others refuse it.
    #[test]
    fn a_follower_count_beyond_i64_is_refused_only_where_it_is_kept_as_an_integer() {
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
        assert!(counts_fit_i64(record, Counts::Typed).is_ok());
        let refusal = counts_fit_i64(record, Counts::All).unwrap_err();
        assert_eq!(refusal.reason, format!("followers = {} exceeds a signed 64-bit integer", u64::MAX));
    }
}
