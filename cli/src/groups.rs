//! `kflow groups list|describe|lag|reset-offsets`.

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args, Subcommand};
use kflow::kafka::ResetTo;
use serde_json::{json, Value};

use crate::connect::Connection;

/// Consumer-group commands.
#[derive(Subcommand, Debug)]
pub enum GroupsCommand {
    /// Lists the cluster's consumer groups.
    List,
    /// Shows a group's state, members and their partitions.
    Describe {
        /// The group.
        group: String,
    },
    /// Shows a group's committed offsets, end offsets and lag per partition.
    Lag {
        /// The group.
        group: String,
        /// Only these topics (repeatable; default: every topic the group committed on).
        #[arg(long, short)]
        topic: Vec<String>,
    },
    /// Moves a group's committed offsets (the group must have no active members).
    ResetOffsets(ResetArgs),
    /// Deletes groups and their committed offsets (they must have no active members).
    Delete {
        /// The groups.
        #[arg(required = true)]
        groups: Vec<String>,
        /// Confirms the deletion (without it, nothing is deleted).
        #[arg(long)]
        yes: bool,
    },
}

/// `kflow groups reset-offsets` flags.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("target").required(true).args(["to_earliest", "to_latest", "to_offset", "to_timestamp", "to_datetime", "shift_by", "by_duration"])))]
pub struct ResetArgs {
    /// The group.
    pub group: String,
    /// Topics to reset (repeatable; default: every topic the group committed on).
    #[arg(long, short)]
    pub topic: Vec<String>,
    /// To the first offset still in the log.
    #[arg(long)]
    pub to_earliest: bool,
    /// To the end of the log.
    #[arg(long)]
    pub to_latest: bool,
    /// To this offset (clamped to the log).
    #[arg(long)]
    pub to_offset: Option<i64>,
    /// To the first record at or after this time, in milliseconds since the epoch.
    #[arg(long)]
    pub to_timestamp: Option<i64>,
    /// To the first record at or after this RFC 3339 time, with its offset, e.g.
    /// 2026-11-23T10:00:00Z or 2026-11-23T11:00:00+01:00.
    #[arg(long)]
    pub to_datetime: Option<String>,
    /// Move each committed offset by this many records (negative: back), clamped to the log.
    #[arg(long, allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// To the first record written this long ago or later, e.g. 15m, 2h, 1d.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub by_duration: Option<std::time::Duration>,
    /// Commit the new offsets (without it, only the plan is shown).
    #[arg(long, conflicts_with = "dry_run")]
    pub execute: bool,
    /// Only show the plan (the default; for scripts that want to say so).
    #[arg(long)]
    pub dry_run: bool,
}

impl ResetArgs {
    fn target(&self) -> Result<ResetTo> {
        Ok(if self.to_earliest {
            ResetTo::Earliest
        } else if self.to_latest {
            ResetTo::Latest
        } else if let Some(o) = self.to_offset {
            ResetTo::Offset(kflow::Offset(o))
        } else if let Some(ts) = self.to_timestamp {
            ResetTo::Timestamp(ts)
        } else if let Some(text) = &self.to_datetime {
            let at = chrono::DateTime::parse_from_rfc3339(text).with_context(|| {
                format!("--to-datetime `{text}` is not an RFC 3339 time with an offset (e.g. 2026-11-23T10:00:00Z)")
            })?;
            ResetTo::Timestamp(at.timestamp_millis())
        } else if let Some(n) = self.shift_by {
            ResetTo::ShiftBy(n)
        } else if let Some(ago) = self.by_duration {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the clock is before 1970")?;
            ResetTo::Timestamp(now.saturating_sub(ago).as_millis() as i64)
        } else {
            bail!("say where to: --to-earliest, --to-latest, --to-offset, --to-timestamp or --to-datetime")
        })
    }
}

pub async fn run(connection: &Connection, command: GroupsCommand) -> Result<()> {
    let transport = connection.transport()?;
    let admin = transport.kafka_admin();
    match command {
        GroupsCommand::List => {
            let groups = admin.list_groups().await?;
            if connection.json {
                let list: Vec<Value> = groups
                    .iter()
                    .map(|g| json!({"group": g.name, "state": g.state, "members": g.members}))
                    .collect();
                println!("{}", Value::Array(list));
                return Ok(());
            }
            let width = groups.iter().map(|g| g.name.len()).max().unwrap_or(5).max(5);
            println!("{:<width$}  {:<20}  MEMBERS", "GROUP", "STATE");
            for g in groups {
                println!("{:<width$}  {:<20}  {}", g.name, g.state, g.members);
            }
        }
        GroupsCommand::Describe { group } => {
            let d = admin.describe_group(&group).await?;
            if connection.json {
                let members: Vec<Value> = d
                    .members
                    .iter()
                    .map(|m| {
                        let parts: Vec<Value> = m
                            .assignment
                            .iter()
                            .map(|tp| json!({"topic": tp.topic.to_string(), "partition": tp.partition.0}))
                            .collect();
                        json!({"id": m.id, "client_id": m.client_id, "host": m.host, "partitions": parts})
                    })
                    .collect();
                println!(
                    "{}",
                    json!({"group": d.name, "state": d.state, "protocol": d.protocol, "members": members})
                );
                return Ok(());
            }
            println!(
                "group {}: {} ({} member(s), strategy {})",
                d.name,
                d.state,
                d.members.len(),
                d.protocol
            );
            for m in &d.members {
                let parts: Vec<String> = m.assignment.iter().map(|tp| tp.to_string()).collect();
                let parts = if parts.is_empty() {
                    "-".to_string()
                } else {
                    parts.join(", ")
                };
                println!("  {} (client {}, host {}): {parts}", m.id, m.client_id, m.host);
            }
        }
        GroupsCommand::Lag { group, topic } => {
            let topics: Vec<&str> = topic.iter().map(String::as_str).collect();
            let lag = admin.group_lag(&group, &topics).await?;
            if connection.json {
                println!("{}", kflow::kafka::lag_json(&group, &lag));
                return Ok(());
            }
            if lag.is_empty() {
                println!("group {group} has no committed offsets (name topics with --topic)");
                return Ok(());
            }
            let width = lag.iter().map(|l| l.partition.topic.len()).max().unwrap_or(5).max(5);
            println!("{:<width$}  PARTITION  COMMITTED  END  LAG", "TOPIC");
            for l in &lag {
                let committed = l.committed.map_or("-".to_string(), |c| c.to_string());
                println!(
                    "{:<width$}  {:<9}  {committed:<9}  {:<3}  {}",
                    l.partition.topic, l.partition.partition, l.end, l.lag
                );
            }
            println!("total lag: {}", lag.iter().map(|l| l.lag).sum::<i64>());
        }
        GroupsCommand::Delete { groups, yes } => {
            if !yes {
                anyhow::bail!(
                    "this deletes {} and their committed offsets: add --yes to confirm",
                    groups.join(", ")
                );
            }
            let names: Vec<&str> = groups.iter().map(String::as_str).collect();
            admin.delete_groups(&names).await?;
            match connection.json {
                true => println!("{}", json!({"deleted": names})),
                false => println!("deleted {}", names.join(", ")),
            }
        }
        GroupsCommand::ResetOffsets(args) => {
            let to = args.target()?;
            let topics: Vec<&str> = args.topic.iter().map(String::as_str).collect();
            let changes = if args.execute {
                admin.reset_offsets(&args.group, &topics, to).await?
            } else {
                admin.plan_reset(&args.group, &topics, to).await?
            };
            if changes.is_empty() {
                bail!(
                    "group {} has no committed offsets to reset: name the topics with --topic",
                    args.group
                );
            }
            if connection.json {
                let parts: Vec<Value> = changes
                    .iter()
                    .map(|c| {
                        json!({
                            "topic": c.partition.topic.to_string(),
                            "partition": c.partition.partition.0,
                            "from": c.from.map(|f| f.0),
                            "to": c.to.0,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    json!({"group": args.group, "executed": args.execute, "changes": parts})
                );
                return Ok(());
            }
            println!("TOPIC  PARTITION  FROM  TO");
            for c in &changes {
                let from = c.from.map_or("-".to_string(), |f| f.to_string());
                println!("{}  {}  {from}  {}", c.partition.topic, c.partition.partition, c.to);
            }
            if args.execute {
                println!("reset {} partition(s) of group {}", changes.len(), args.group);
            } else {
                println!("plan only: add --execute to commit these offsets");
            }
        }
    }
    Ok(())
}
