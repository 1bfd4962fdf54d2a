//! `kflow cluster info|health`.

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::connect::Connection;

/// Cluster commands.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Shows the cluster id, its brokers and how many topics it has.
    Info,
    /// Pings the cluster and checks partitions for a missing leader, missing in-sync
    /// replicas and fewer in-sync replicas than `min.insync.replicas`; exits with 1 if
    /// any partition has a problem.
    Health {
        /// Only these topics (repeatable; default: every non-internal topic).
        #[arg(long, short)]
        topic: Vec<String>,
    },
}

pub async fn run(connection: &Connection, command: ClusterCommand) -> Result<()> {
    let transport = connection.transport()?;
    let admin = transport.kafka_admin();
    match command {
        ClusterCommand::Info => {
            let json = connection.json;
            let c = admin.describe_cluster().await?;
            if json {
                println!("{}", serde_json::to_string(&c)?);
                return Ok(());
            }
            println!("cluster {}", c.cluster_id.as_deref().unwrap_or("(no id)"));
            println!("{} topic(s)", c.topics);
            println!("BROKER  ADDRESS");
            for b in &c.brokers {
                let role = if c.controller == Some(b.id) {
                    "  (controller)"
                } else {
                    ""
                };
                println!("{:<6}  {}:{}{role}", b.id, b.host, b.port);
            }
        }
        ClusterCommand::Health { topic } => {
            let json = connection.json;
            let topics: Vec<&str> = topic.iter().map(String::as_str).collect();
            let h = admin.cluster_health(&topics).await?;
            if json {
                println!("{}", serde_json::to_string(&h)?);
            } else {
                println!(
                    "ping {:.1} ms, {} broker(s), {} partition(s) checked, {} unhealthy",
                    h.ping_ms,
                    h.brokers,
                    h.partitions,
                    h.unhealthy.len()
                );
                for u in &h.unhealthy {
                    println!(
                        "  {}-{}: {:?} (leader {}, replicas {:?}, isr {:?})",
                        u.topic, u.partition, u.problems, u.leader, u.replicas, u.isr
                    );
                }
            }
            if !h.is_healthy() {
                bail!("{} partition(s) unhealthy", h.unhealthy.len());
            }
        }
    }
    Ok(())
}
