//! `kflow dlq replay`.

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use kflow::policy::Replay;

use crate::connect::Connection;

/// Dead-letter commands.
#[derive(Subcommand, Debug)]
pub enum DlqCommand {
    /// Writes a dead-letter topic's records back to their original topics (from kflow's
    /// or Spring's headers), without the failure headers. Progress is committed as a
    /// consumer group, so a second run only replays what is new; records dead-lettered
    /// after the replay started are left for the next run.
    Replay {
        /// The dead-letter topic, e.g. orders.dlq.
        topic: String,
        /// The consumer group that tracks what was replayed (default kflow-replay-<topic>).
        #[arg(long, short)]
        group: Option<String>,
        /// Stop once no record arrived for this many seconds.
        #[arg(long, default_value_t = 5)]
        idle_timeout: u64,
        /// Stop after this many records.
        #[arg(long)]
        max: Option<u64>,
    },
}

pub async fn run(connection: &Connection, command: DlqCommand) -> Result<()> {
    let DlqCommand::Replay {
        topic,
        group,
        idle_timeout,
        max,
    } = command;
    let transport = connection.transport()?;
    transport.kafka_admin().describe(&topic).await?;
    let mut replay = Replay::new(&topic).idle_timeout(Duration::from_secs(idle_timeout));
    if let Some(g) = &group {
        replay = replay.group_id(g);
    }
    if let Some(n) = max {
        replay = replay.max_records(n);
    }
    let report = replay.run(&transport).await?;
    if connection.json {
        let by_topic: std::collections::BTreeMap<String, u64> =
            report.by_topic.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        println!(
            "{}",
            serde_json::json!({"topic": topic, "replayed": report.replayed, "by_topic": by_topic})
        );
        return Ok(());
    }
    println!("replayed {} record(s) from {topic}", report.replayed);
    for (to, n) in &report.by_topic {
        println!("  {to}: {n}");
    }
    Ok(())
}
