//! Declarative topic sets: named groups of topics (from templates) with per-pattern
//! settings, created idempotently.

use kflow_core::transport::NewTopic;
use kflow_core::{Error, Result};

use super::naming::{NamingRule, TopicTemplate};
use super::topics::{Created, TopicSettings};
use super::KafkaAdmin;

/// A named set of topics, e.g. everything one tenant or one pipeline needs.
///
/// Topic names are [`TopicTemplate`]s filled from the set's variables and checked against
/// its [`NamingRule`]. Each topic takes the settings of the first rule whose glob pattern
/// matches its name, else the set's defaults. [`TopicSet::ensure`] creates what is
/// missing, leaves what exists, and reports where an existing topic differs.
///
/// ```
/// use std::time::Duration;
/// use kflow_kafka::{NamingRule, TopicSet, TopicSettings};
/// let tenant = TopicSet::new("tenant-acme")
///     .var("tenant", "acme")
///     .naming(NamingRule::convention(r"tenant\.[a-z]+\.[a-z.]+").unwrap())
///     .defaults(TopicSettings::new().partitions(6))
///     .rule("*.dlq", TopicSettings::new().partitions(1).retention(Duration::from_secs(14 * 86_400)))
///     .topic("tenant.${tenant}.orders")
///     .topic("tenant.${tenant}.orders.dlq");
/// let specs = tenant.topics().unwrap();
/// assert_eq!(specs[0].name, "tenant.acme.orders");
/// assert_eq!(specs[0].partitions, 6);
/// assert_eq!(specs[1].partitions, 1);
/// ```
#[derive(Debug, Clone)]
pub struct TopicSet {
    name: String,
    vars: Vec<(String, String)>,
    naming: NamingRule,
    defaults: TopicSettings,
    rules: Vec<(String, TopicSettings)>,
    topics: Vec<String>,
}

/// What [`TopicSet::ensure`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicSetReport {
    /// Topics created now.
    pub created: Vec<String>,
    /// Topics that were already there.
    pub existing: Vec<String>,
    /// Settings of existing topics that differ from the set's (left unchanged by
    /// [`TopicSet::ensure`]: Kafka cannot shrink partitions, and changing configs is a
    /// decision for a person; see [`TopicSet::ensure_fixing_drift`]).
    pub drift: Vec<Drift>,
    /// [`TopicSet::check`]: topics that do not exist (nothing is created).
    pub missing: Vec<String>,
    /// [`TopicSet::ensure_fixing_drift`]: the drift it fixed (the rest stays in `drift`).
    pub fixed: Vec<Drift>,
}

/// One setting of an existing topic that differs from its set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The topic.
    pub topic: String,
    /// `partitions`, `replication` or a config name.
    pub setting: String,
    /// The set's value.
    pub wanted: String,
    /// The topic's value (`(default)` when it is not set on the topic).
    pub found: String,
}

impl TopicSet {
    /// An empty set.
    pub fn new(name: impl Into<String>) -> Self {
        TopicSet {
            name: name.into(),
            vars: Vec::new(),
            naming: NamingRule::Any,
            defaults: TopicSettings::new(),
            rules: Vec::new(),
            topics: Vec::new(),
        }
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A variable for the topic templates.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_string(), value.to_string()));
        self
    }

    /// The naming rule every topic must follow (default: Kafka's rules only).
    pub fn naming(mut self, rule: NamingRule) -> Self {
        self.naming = rule;
        self
    }

    /// Settings for topics no rule matches.
    pub fn defaults(mut self, settings: TopicSettings) -> Self {
        self.defaults = settings;
        self
    }

    /// Settings for topics whose name matches a glob pattern; the first matching rule wins.
    pub fn rule(mut self, pattern: &str, settings: TopicSettings) -> Self {
        self.rules.push((pattern.to_string(), settings));
        self
    }

    /// A topic, as a template (`${var}` placeholders) or a plain name.
    pub fn topic(mut self, template: &str) -> Self {
        self.topics.push(template.to_string());
        self
    }

    /// The topics with their settings. Errors name the bad template, variable, pattern
    /// or name.
    pub fn topics(&self) -> Result<Vec<NewTopic>> {
        let vars: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let rules = self
            .rules
            .iter()
            .map(|(pattern, settings)| {
                glob::Pattern::new(pattern)
                    .map(|p| (p, settings))
                    .map_err(|e| Error::Config {
                        key: format!("topic set `{}`", self.name),
                        reason: format!("rule `{pattern}` is not a glob pattern: {e}"),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        self.topics
            .iter()
            .map(|template| {
                let name = TopicTemplate::parse(template)?.render(&vars, &self.naming)?;
                let settings = rules
                    .iter()
                    .find(|(p, _)| p.matches(&name))
                    .map_or(&self.defaults, |(_, s)| s);
                Ok(settings.topic(name))
            })
            .collect()
    }

    /// Creates the missing topics and reports the rest; running it again changes nothing.
    pub async fn ensure(&self, admin: &KafkaAdmin) -> Result<TopicSetReport> {
        let mut report = TopicSetReport::default();
        for topic in self.topics()? {
            match admin.create_one(&topic).await? {
                Created::New => report.created.push(topic.name),
                Created::Existed => {
                    report.drift.extend(drift(admin, &topic).await?);
                    report.existing.push(topic.name);
                }
            }
        }
        tracing::info!(set = %self.name, created = ?report.created, existing = report.existing.len(), drift = report.drift.len(), "topic set ensured");
        Ok(report)
    }

    /// Reports what [`TopicSet::ensure`] would find, changing nothing: the missing topics
    /// and the drift of the existing ones (partitions, replication factor, configs). For
    /// a readiness or CI check.
    pub async fn check(&self, admin: &KafkaAdmin) -> Result<TopicSetReport> {
        let mut report = TopicSetReport::default();
        for topic in self.topics()? {
            match admin.partitions_async(&topic.name).await? {
                None => report.missing.push(topic.name),
                Some(_) => {
                    report.drift.extend(drift(admin, &topic).await?);
                    report.existing.push(topic.name);
                }
            }
        }
        Ok(report)
    }

    /// [`TopicSet::ensure`], then fixes what can be fixed in place: too few partitions
    /// are added, differing configs are set (incrementally, the topic's other configs
    /// kept). Too many partitions and a different replication factor cannot be fixed
    /// that way and stay in `drift`. Opt-in: it changes live topics. A change the broker
    /// refuses is an error naming the topic (what was fixed before it stays fixed).
    pub async fn ensure_fixing_drift(&self, admin: &KafkaAdmin) -> Result<TopicSetReport> {
        let mut report = self.ensure(admin).await?;
        let mut left = Vec::new();
        for d in std::mem::take(&mut report.drift) {
            let fixed = match d.setting.as_str() {
                "partitions" => match (d.wanted.parse::<i32>(), d.found.parse::<i32>()) {
                    (Ok(w), Ok(f)) if w > f => {
                        admin.add_partitions(&d.topic, w).await?;
                        true
                    }
                    _ => false,
                },
                "replication" => false,
                config => {
                    admin.alter_topic_config(&d.topic, &[(config, &d.wanted)], &[]).await?;
                    true
                }
            };
            if fixed {
                tracing::info!(set = %self.name, topic = %d.topic, setting = %d.setting, from = %d.found, to = %d.wanted, "topic drift fixed");
                report.fixed.push(d);
            } else {
                left.push(d);
            }
        }
        report.drift = left;
        Ok(report)
    }
}

async fn drift(admin: &KafkaAdmin, topic: &NewTopic) -> Result<Vec<Drift>> {
    let found = admin.describe(&topic.name).await?;
    let mut out = Vec::new();
    let replication = found.partitions.iter().map(|p| p.replicas.len()).max().unwrap_or(0);
    if !found.partitions.is_empty() && replication != topic.replication as usize {
        out.push(Drift {
            topic: topic.name.clone(),
            setting: "replication".into(),
            wanted: topic.replication.to_string(),
            found: replication.to_string(),
        });
    }
    if found.partitions.len() as i32 != topic.partitions {
        out.push(Drift {
            topic: topic.name.clone(),
            setting: "partitions".into(),
            wanted: topic.partitions.to_string(),
            found: found.partitions.len().to_string(),
        });
    }
    for (name, wanted) in &topic.configs {
        let value = found.configs.get(name);
        if value != Some(wanted) {
            out.push(Drift {
                topic: topic.name.clone(),
                setting: name.clone(),
                wanted: wanted.clone(),
                found: value.cloned().unwrap_or_else(|| "(default)".into()),
            });
        }
    }
    Ok(out)
}
