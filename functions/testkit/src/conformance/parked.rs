//! The cases every `ParkedRecords` store must pass: records read back
//! intact in source order, page after a source, and a redelivered record
//! parks once.

use super::support::*;
use domain::ParkedRecord;

/// Parked records read back whole, paged by source; parking a source
/// again keeps one record.
pub async fn parked_records_list_in_source_order_and_a_source_parks_once(stores: Stores) {
    // Other cases and runs share the store: only this case's sources count.
    let prefix = unique_name("parked");
    let record = |n: u32, reason: &str| {
        ParkedRecord::new(
            format!("{prefix}/{n:03}"),
            reason,
            &format!("{{\"n\":{n},\"text\":\"é ✓\"}}"),
            at(i64::from(n)),
        )
    };
    let records = [
        record(2, "undecodable"),
        record(0, "bad type"),
        record(1, "x"),
    ];
    for parked in &records {
        stores.parked.park(parked).await.expect("park");
    }
    // A redelivered batch parks its record again, maybe for another reason.
    let mut again = records[0].clone();
    again.reason = "parked again".to_owned();
    again.parked_at = at(9);
    stores.parked.park(&again).await.expect("park again");

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = stores
            .parked
            .parked(after.as_deref(), 2)
            .await
            .expect("parked");
        let Some(last) = page.last() else { break };
        after = Some(last.source.clone());
        assert!(page.len() <= 2, "a page holds at most its limit");
        seen.extend(
            page.into_iter()
                .filter(|parked| parked.source.starts_with(&prefix)),
        );
        if seen.len() == 3 {
            break;
        }
    }
    let mut expected = records.to_vec();
    expected.sort_by(|a, b| a.source.cmp(&b.source));
    assert_eq!(seen, expected);
}
