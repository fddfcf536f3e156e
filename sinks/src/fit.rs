//! Integers a store can hold. Raw posts allow counts up to u64; stores whose
//! integers are signed 64-bit refuse a larger count with the reason rather
//! than wrap or clamp it.

use socialpipe_schemas::ComponentError;

use crate::batch::Record;

/// Refuses a record with a count beyond i64 (then [`as_i64`] is exact).
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
            let profile = row.author.as_ref().map(|a| &a.profile);
            vec![
                (Some(row.row_number), "row_number"),
                (profile.and_then(|p| p.followers), "author.followers"),
                (profile.and_then(|p| p.following), "author.following"),
            ]
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
