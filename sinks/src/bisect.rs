//! Writing a batch to a store that refuses a whole statement for one bad
//! record (ClickHouse, Bolt): the store's part writer writes parts, and
//! `Bisecting` halves a refused part until each refused record is alone,
//! then moves it to the refusals and writes the rest. A batch with one bad
//! record costs about 2·log2(n) extra writes; parts are written
//! idempotently, so a record written twice meanwhile is harmless.

use async_trait::async_trait;
use socialpipe_schemas::ComponentError;

use crate::batch::{DecodedBatch, Record};
use crate::store::StoreWriter;

/// Why writing a part of a batch failed.
pub enum PartError {
    /// The store refused some record of the part for good (its message).
    Refused(String),
    /// Anything else: the whole batch fails with it.
    Failed(ComponentError),
}

/// A store that writes a part of a batch idempotently.
#[async_trait]
pub trait PartWriter: Send {
    /// The sink's name, in refusals.
    const NAME: &'static str;

    /// Refuses, before anything is sent, a record the store cannot hold.
    fn storable(&self, record: &Record) -> Result<(), ComponentError>;

    async fn write_part(&mut self, part: &DecodedBatch<'_>) -> Result<(), PartError>;

    /// As `StoreWriter::abandon`.
    fn abandon(&mut self) {}
}

/// The store writer of a part writer: writes the whole batch, then halves
/// what the store refuses.
pub struct Bisecting<P>(pub P);

#[async_trait]
impl<P: PartWriter> StoreWriter for Bisecting<P> {
    const NAME: &'static str = P::NAME;

    fn storable(&self, record: &Record) -> Result<(), ComponentError> {
        self.0.storable(record)
    }

    async fn write(&mut self, batch: &mut DecodedBatch<'_>) -> Result<(), ComponentError> {
        let mut pending = vec![std::mem::take(&mut batch.records)];
        while let Some(records) = pending.pop() {
            let part = DecodedBatch { records, rejected: Vec::new() };
            match self.0.write_part(&part).await {
                Ok(()) => batch.records.extend(part.records),
                Err(PartError::Refused(reason)) => {
                    let mut records = part.records;
                    if records.len() == 1 {
                        let (index, _) = records.pop().expect("one record");
                        batch.rejected.push((index, ComponentError::invalid(reason)));
                    } else {
                        let second = records.split_off(records.len() / 2);
                        pending.push(second);
                        pending.push(records);
                    }
                }
                Err(PartError::Failed(e)) => return Err(e),
            }
        }
        Ok(())
    }

    fn abandon(&mut self) {
        self.0.abandon()
    }
}

/// Splits items of the given sizes into consecutive ranges of at most
/// `max_items` items and `max_bytes` bytes (an item larger than `max_bytes`
/// goes alone): how a batch is cut into commands or messages a server takes.
pub fn size_bounded(sizes: &[usize], max_bytes: usize, max_items: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        if i > start && (bytes + size > max_bytes || i - start == max_items) {
            ranges.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        ranges.push(start..sizes.len());
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refuses any part holding one of `bad`; records what it wrote.
    struct Picky {
        bad: Vec<String>,
        written: Vec<String>,
        writes: usize,
    }

    #[async_trait]
    impl PartWriter for Picky {
        const NAME: &'static str = "picky";

        fn storable(&self, _: &Record) -> Result<(), ComponentError> {
            Ok(())
        }

        async fn write_part(&mut self, part: &DecodedBatch<'_>) -> Result<(), PartError> {
            self.writes += 1;
            let ids: Vec<String> = part.records.iter().map(|(_, r)| r.envelope().id.clone()).collect();
            match ids.iter().find(|id| self.bad.contains(id)) {
                Some(id) => Err(PartError::Refused(format!("{id} is bad"))),
                None => {
                    self.written.extend(ids);
                    Ok(())
                }
            }
        }
    }

    #[test]
    fn size_bounded_ranges_keep_under_both_bounds_and_never_split_an_item() {
        assert_eq!(size_bounded(&[4, 4, 4, 4, 4], 10, 100), vec![0..2, 2..4, 4..5]);
        assert_eq!(size_bounded(&[1, 1, 1, 1, 1], 100, 2), vec![0..2, 2..4, 4..5]);
        // Larger than the bound: alone.
        assert_eq!(size_bounded(&[3, 50, 3], 10, 100), vec![0..1, 1..2, 2..3]);
        assert!(size_bounded(&[], 10, 10).is_empty());
    }

    #[tokio::test]
    async fn bisection_isolates_each_refused_record_and_writes_the_rest() {
        let batch = crate::testing::posts("x", 0..64, 1);
        let mut decoded = DecodedBatch::decode(&batch, "test");
        let mut writer = Bisecting(Picky { bad: vec!["x:5".into(), "x:40".into()], written: Vec::new(), writes: 0 });
        writer.write(&mut decoded).await.unwrap();
        let mut refused: Vec<(usize, String)> = decoded.rejected.iter().map(|(i, e)| (*i, e.reason.clone())).collect();
        refused.sort();
        assert_eq!(refused, vec![(5, "x:5 is bad".to_owned()), (40, "x:40 is bad".to_owned())]);
        let picky = writer.0;
        let mut written = picky.written;
        written.sort();
        let mut expected: Vec<String> = (0..64).filter(|n| *n != 5 && *n != 40).map(|n| format!("x:{n}")).collect();
        expected.sort();
        assert_eq!(written, expected);
        assert_eq!(decoded.records.len(), 62);
        assert!(picky.writes <= 1 + 2 * 2 * 6, "{} writes", picky.writes);
    }
}
