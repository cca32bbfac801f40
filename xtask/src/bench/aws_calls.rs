//! What an event costs on the DynamoDB adapter (moto), counted at the
//! wire: requests and capacity units per append (one writer on one
//! stream, 8 writers on one stream, 8 writers on 8 streams, each with an
//! Idempotency-Key and without), per projected event and per replayed
//! event, and their on-demand price. Each writer is a store of its own,
//! as each warm function instance is.

use anyhow::{anyhow, bail};
use chrono::Utc;
use domain::{
    Amount, AppendCommand, DomainEvent, EventId, EventStore, IdempotencyKey, ItemId, RecordedEvent,
    StreamId,
};
use service::dynamo::{DynamoStore, TableNames, ensure_tables};
use testkit::capacity::{CapacityMeter, Units, metered_dynamodb};

use super::report::Report;

/// DynamoDB on-demand prices in us-east-1, per million request units, as
/// published on aws.amazon.com/dynamodb/pricing/on-demand/ (after the
/// price cut of 2024-11-01), taken 2026-12-08.
const WRITE_PRICE_PER_MILLION: f64 = 0.625;
const READ_PRICE_PER_MILLION: f64 = 0.125;
const PRICES: &str =
    "on-demand us-east-1: $0.625 per million WRU, $0.125 per million RRU (taken 2026-12-08)";

/// Appends per writer.
const APPENDS: u64 = 100;
/// Items each writer's events go over: each created, then changed.
const ITEMS: u64 = 10;

struct Case {
    label: &'static str,
    writers: u64,
    streams: u64,
    keyed: bool,
    /// The figure name it had before (so the report shows it beside).
    old_name: Option<&'static str>,
}

static CASES: [Case; 6] = [
    Case {
        label: "1 writer, 1 stream",
        writers: 1,
        streams: 1,
        keyed: false,
        old_name: Some("DynamoDB requests per appended event"),
    },
    Case {
        label: "1 writer, 1 stream, keyed",
        writers: 1,
        streams: 1,
        keyed: true,
        old_name: Some("DynamoDB requests per appended event, with an Idempotency-Key"),
    },
    Case {
        label: "8 writers, 1 stream",
        writers: 8,
        streams: 1,
        keyed: false,
        old_name: None,
    },
    Case {
        label: "8 writers, 1 stream, keyed",
        writers: 8,
        streams: 1,
        keyed: true,
        old_name: None,
    },
    Case {
        label: "8 writers, 8 streams",
        writers: 8,
        streams: 8,
        keyed: false,
        old_name: None,
    },
    Case {
        label: "8 writers, 8 streams, keyed",
        writers: 8,
        streams: 8,
        keyed: true,
        old_name: None,
    },
];

fn verdict(value: f64, target: f64) -> &'static str {
    if value <= target + 1e-9 {
        "pass"
    } else {
        "miss"
    }
}

/// The `n`th event of `writer`: its items created, then changed.
fn writer_event(writer: u64, n: u64) -> anyhow::Result<DomainEvent> {
    let item_id = ItemId::parse(format!("w{writer}-item-{}", n % ITEMS), "itemId")
        .map_err(|e| anyhow!("{e}"))?;
    let amount = Amount::new(n).ok_or_else(|| anyhow!("amount {n} out of range"))?;
    Ok(if n < ITEMS {
        DomainEvent::ItemCreated { item_id, amount }
    } else {
        DomainEvent::ItemAmountChanged { item_id, amount }
    })
}

fn writer_command(case: &Case, writer: u64, n: u64) -> anyhow::Result<AppendCommand> {
    let stream = StreamId::parse(format!("calls-{}", writer % case.streams), "streamId")
        .map_err(|e| anyhow!("{e}"))?;
    let command = AppendCommand::new(stream, writer_event(writer, n)?, None);
    Ok(if case.keyed {
        let key = format!("bench-{writer}-{n}-{}", uuid::Uuid::new_v4().simple());
        command.with_idempotency_key(IdempotencyKey::parse(&key).map_err(|e| anyhow!("{e}"))?)
    } else {
        command
    })
}

/// A store over fresh tables whose requests the meter counts.
async fn metered(moto: &str) -> anyhow::Result<(DynamoStore, CapacityMeter)> {
    let meter = CapacityMeter::default();
    let client = metered_dynamodb(moto, &meter).await;
    let tables = TableNames::with_prefix(&format!("bench-{}", uuid::Uuid::new_v4().simple()));
    ensure_tables(&client, &tables).await?;
    meter.take();
    Ok((DynamoStore::new(client, tables), meter))
}

fn price_per_million(units: &Units, per: f64) -> f64 {
    (units.write * WRITE_PRICE_PER_MILLION + units.read * READ_PRICE_PER_MILLION) / per
}

fn report_units(report: &mut Report, label: &str, units: &Units, per: f64, what: &str) {
    let reported = if units.reporting == 0 {
        "moto reports no ConsumedCapacity: computed from the item sizes sent and read by the documented rules".to_owned()
    } else {
        format!(
            "DynamoDB reported {:.2} units per {what}",
            units.reported / per
        )
    };
    report.add(
        "aws calls",
        format!("write units per {what}, {label}"),
        units.write / per,
        "WRU",
        reported,
    );
    report.add(
        "aws calls",
        format!("read units per {what}, {label}"),
        units.read / per,
        "RRU",
        "",
    );
    report.add(
        "aws calls",
        format!("price per million {what}s, {label}"),
        price_per_million(units, per),
        "$",
        PRICES,
    );
}

/// One case: every writer appends its first event (cold), then the rest
/// (warm), all writers at once.
async fn append_case(
    report: &mut Report,
    moto: &str,
    case: &'static Case,
) -> anyhow::Result<Vec<RecordedEvent>> {
    let (first, meter) = metered(moto).await?;
    // A store per writer: each remembers what it saw, as an instance does.
    let stores: Vec<DynamoStore> = (0..case.writers)
        .map(|_| DynamoStore::new(first.client().clone(), first.tables().clone()))
        .collect();
    let mut events = Vec::new();
    let run = |from: u64, to: u64| {
        let mut tasks = tokio::task::JoinSet::new();
        for (writer, store) in stores.iter().enumerate() {
            let store = store.clone();
            tasks.spawn(async move {
                let mut appended = Vec::new();
                for n in from..to {
                    let command = writer_command(case, writer as u64, n)?;
                    let event = store.append(&command, Utc::now()).await;
                    appended.push(event.map_err(|e| anyhow!("{e}"))?);
                }
                anyhow::Ok(appended)
            });
        }
        async move {
            let mut all = Vec::new();
            for appended in tasks.join_all().await {
                all.extend(appended?);
            }
            anyhow::Ok(all)
        }
    };
    events.extend(run(0, 1).await?);
    let cold = meter.take();
    // Eight writers on one stream win one write in eight: fewer each.
    let per_writer = if case.writers == 1 {
        APPENDS
    } else {
        APPENDS / 4
    };
    events.extend(run(1, per_writer).await?);
    let warm = meter.take();
    let appends = (case.writers * (per_writer - 1)) as f64;
    let all = Units {
        requests: cold.requests + warm.requests,
        read: cold.read + warm.read,
        write: cold.write + warm.write,
        reported: cold.reported + warm.reported,
        reporting: cold.reporting + warm.reporting,
    };
    let total = (case.writers * per_writer) as f64;
    let warm_per = warm.requests as f64 / appends;
    let (target, after) = if case.writers == 1 {
        (1.05, "after the first append")
    } else {
        (2.0, "after each writer's first append")
    };
    let name = case.old_name.map_or_else(
        || format!("DynamoDB requests per append, {}", case.label),
        str::to_owned,
    );
    report.add(
        "aws calls",
        name,
        warm_per,
        "",
        format!(
            "{} appends {after}; target <= {target}: {}; was 2 requests (read, then write)",
            appends,
            verdict(warm_per, target)
        ),
    );
    let all_per = all.requests as f64 / total;
    report.add(
        "aws calls",
        format!("DynamoDB requests per append incl. cold, {}", case.label),
        all_per,
        "",
        format!(
            "{total} appends, each writer's first on a cold store; target <= 2.0: {}",
            verdict(all_per, 2.0)
        ),
    );
    report_units(report, case.label, &all, total, "append");
    let warm_reads = warm.read / appends;
    report.add(
        "aws calls",
        format!("read units per append in steady state, {}", case.label),
        warm_reads,
        "RRU",
        format!("target 0: {}", verdict(warm_reads, 0.0)),
    );
    Ok(events)
}

pub(super) async fn measure(report: &mut Report, moto: &str) -> anyhow::Result<()> {
    let mut single = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        match append_case(report, moto, case).await {
            Ok(events) if i == 0 => single = events,
            Ok(_) => {}
            // Contention past the append's attempts is a figure too.
            Err(err) => report.missing(
                "aws calls",
                format!("DynamoDB requests per append, {}", case.label),
                err.to_string(),
            ),
        }
    }
    // Projection and replay of one writer's stream of 100 events over 10 items.
    let (store, meter) = metered(moto).await?;
    let stream = single
        .first()
        .map(|e| e.stream_id.clone())
        .ok_or_else(|| anyhow!("no events appended"))?;
    let mut events = Vec::new();
    for n in 0..APPENDS {
        let command = AppendCommand::new(stream.clone(), writer_event(0, n)?, None);
        events.push(
            store
                .append(&command, Utc::now())
                .await
                .map_err(|e| anyhow!("{e}"))?,
        );
    }
    meter.take();
    let failed = service::projector::project(&store, &events).await;
    if !failed.is_empty() {
        bail!("projecting the bench events failed: {failed:?}");
    }
    let projected = meter.take();
    let per_item = projected.requests as f64 / ITEMS as f64;
    report.add(
        "aws calls",
        "DynamoDB writes per touched item, batch of 100",
        per_item,
        "",
        format!(
            "100 events over 10 items; target <= 1: {}",
            verdict(per_item, 1.0)
        ),
    );
    report_units(
        report,
        "batch of 100 over 10 items",
        &projected,
        APPENDS as f64,
        "projected event",
    );
    let target = domain::ReplayTarget {
        stream_id: stream,
        from_event_id: EventId::FIRST,
    };
    domain::replay::run(&store, &store, &target)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let replayed = meter.take();
    report.add(
        "aws calls",
        "DynamoDB requests per replayed event",
        replayed.requests as f64 / APPENDS as f64,
        "",
        "a replay of 100 events over 10 items: the log read in pages of 1,000, the read model written and swept",
    );
    report_units(
        report,
        "replay of 100 over 10 items",
        &replayed,
        APPENDS as f64,
        "replayed event",
    );
    Ok(())
}
