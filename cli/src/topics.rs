//! `kflow topics create|list|describe|delete|add-partitions|alter-config`.

use anyhow::{bail, Result};
use clap::Subcommand;
use kflow::kafka::{Created, TopicSettings};
use serde_json::{json, Value};

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
    /// Grows a topic to more partitions (partitions cannot be removed).
    AddPartitions {
        /// The name.
        name: String,
        /// The new partition count.
        #[arg(long, short)]
        partitions: i32,
    },
    /// Changes some of a topic's configs and keeps the others.
    AlterConfig {
        /// The name.
        name: String,
        /// A config to set, `key=value` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// A config to return to the broker's default (repeatable).
        #[arg(long = "reset", value_name = "KEY")]
        reset: Vec<String>,
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
            let created = admin.create_topics(&[settings.topic(&name)]).await?[0].1;
            if connection.json {
                let created = created == Created::New;
                println!(
                    "{}",
                    json!({"topic": name, "created": created, "partitions": partitions})
                );
                return Ok(());
            }
            match created {
                Created::New => println!("created {name} ({partitions} partitions, replication {replication})"),
                Created::Existed => println!("{name} already exists: left as it is"),
            }
        }
        TopicsCommand::List { internal } => {
            let topics = admin.list_topics(internal).await?;
            if connection.json {
                let list: Vec<Value> = topics
                    .iter()
                    .map(|t| json!({"topic": t.name, "partitions": t.partitions}))
                    .collect();
                println!("{}", Value::Array(list));
                return Ok(());
            }
            let width = topics.iter().map(|t| t.name.len()).max().unwrap_or(5).max(5);
            println!("{:<width$}  PARTITIONS", "TOPIC");
            for t in topics {
                println!("{:<width$}  {}", t.name, t.partitions);
            }
        }
        TopicsCommand::Describe { name } => {
            let d = admin.describe(&name).await?;
            if connection.json {
                let partitions: Vec<Value> = d
                    .partitions
                    .iter()
                    .map(|p| json!({"partition": p.id, "leader": p.leader, "replicas": p.replicas, "isr": p.isr}))
                    .collect();
                let overrides: Vec<&String> = d.overrides.iter().collect();
                println!(
                    "{}",
                    json!({"topic": d.name, "partitions": partitions, "configs": d.configs, "overrides": overrides})
                );
                return Ok(());
            }
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
        TopicsCommand::AddPartitions { name, partitions } => {
            admin.add_partitions(&name, partitions).await?;
            match connection.json {
                true => println!("{}", json!({"topic": name, "partitions": partitions})),
                false => println!("{name} now has {partitions} partitions"),
            }
        }
        TopicsCommand::AlterConfig { name, set, reset } => {
            if set.is_empty() && reset.is_empty() {
                bail!("nothing to change: give --set KEY=VALUE or --reset KEY");
            }
            let pairs = set.iter().map(|p| key_value(p, "--set")).collect::<Result<Vec<_>>>()?;
            let resets: Vec<&str> = reset.iter().map(String::as_str).collect();
            let own = admin.alter_topic_config(&name, &pairs, &resets).await?;
            if connection.json {
                println!("{}", json!({"topic": name, "configs": own}));
                return Ok(());
            }
            println!("{name}: configs set on the topic now:");
            for (k, v) in own {
                println!("  {k}={v}");
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
            match connection.json {
                true => println!("{}", json!({"deleted": names})),
                false => println!("deleted {}", names.join(", ")),
            }
        }
    }
    Ok(())
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}
