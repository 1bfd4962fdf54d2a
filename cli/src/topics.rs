//! `kflow topics create|list|describe|delete`.

use anyhow::{bail, Result};
use clap::Subcommand;
use kflow::kafka::{Created, TopicSettings};

use crate::connect::{key_value, Connection};

/// Topic commands.
#[derive(Subcommand, Debug)]
pub enum TopicsCommand {
    /// Creates a topic (an existing one is left as it is).
    Create {
        /// The name.
        name: String,
        /// Partition count.
        #[arg(long, short, default_value_t = 1)]
        partitions: i32,
        /// Replication factor.
        #[arg(long, short, default_value_t = 1)]
        replication: i16,
        /// A topic config, `key=value` (repeatable), e.g. retention.ms=86400000.
        #[arg(long = "config", short = 'c', value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// Lists topics with their partition counts.
    List {
        /// Include internal topics (`__...`).
        #[arg(long)]
        internal: bool,
    },
    /// Shows a topic's partitions, replicas and configs.
    Describe {
        /// The name.
        name: String,
    },
    /// Deletes topics.
    Delete {
        /// The names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Confirms the deletion (without it, nothing is deleted).
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(connection: &Connection, command: TopicsCommand) -> Result<()> {
    let transport = connection.transport()?;
    let admin = transport.kafka_admin();
    match command {
        TopicsCommand::Create {
            name,
            partitions,
            replication,
            configs,
        } => {
            kflow::kafka::check_topic_name(&name)?;
            let mut settings = TopicSettings::new().partitions(partitions).replication(replication);
            for pair in &configs {
                let (k, v) = key_value(pair, "--config")?;
                settings = settings.config(k, v);
            }
            match admin.create_topics(&[settings.topic(&name)]).await?[0].1 {
                Created::New => println!("created {name} ({partitions} partitions, replication {replication})"),
                Created::Existed => println!("{name} already exists: left as it is"),
            }
        }
        TopicsCommand::List { internal } => {
            let topics = admin.list_topics(internal).await?;
            let width = topics.iter().map(|t| t.name.len()).max().unwrap_or(5).max(5);
            println!("{:<width$}  PARTITIONS", "TOPIC");
            for t in topics {
                println!("{:<width$}  {}", t.name, t.partitions);
            }
        }
        TopicsCommand::Describe { name } => {
            let d = admin.describe(&name).await?;
            println!("topic {}: {} partition(s)", d.name, d.partitions.len());
            println!("PARTITION  LEADER  REPLICAS  ISR");
            for p in &d.partitions {
                println!(
                    "{:<9}  {:<6}  {:<8}  {}",
                    p.id,
                    p.leader,
                    join(&p.replicas),
                    join(&p.isr)
                );
            }
            if !d.configs.is_empty() {
                println!("configs:");
                for (k, v) in &d.configs {
                    let mark = if d.overrides.contains(k) { "" } else { "  (default)" };
                    println!("  {k}={v}{mark}");
                }
            }
        }
        TopicsCommand::Delete { names, yes } => {
            if !yes {
                bail!(
                    "this deletes {} and its records: add --yes to confirm",
                    names.join(", ")
                );
            }
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            admin.delete_topics(&names).await?;
            println!("deleted {}", names.join(", "));
        }
    }
    Ok(())
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}
