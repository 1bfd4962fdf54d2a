//! Topic names from templates (`pipeline.${pipeline}.step.${step}.output`), checked
//! against Kafka's rules and a team's naming convention or allow-list.

use std::collections::HashMap;

use kflow_core::{Error, Result};

/// Kafka's longest topic name.
const MAX_NAME: usize = 249;

/// Checks a name against Kafka's own rules: 1 to 249 characters from `a-z A-Z 0-9 . _ -`,
/// and not `.` or `..`.
///
/// ```
/// use kflow_kafka::check_topic_name;
/// assert!(check_topic_name("orders.v1").is_ok());
/// assert!(check_topic_name("orders v1").unwrap_err().to_string().contains("' '"));
/// ```
pub fn check_topic_name(name: &str) -> Result<()> {
    let fail = |reason: String| Err(Error::topic(name, reason));
    if name.is_empty() || name == "." || name == ".." {
        return fail("is not a valid topic name (empty, `.` or `..`)".into());
    }
    if name.len() > MAX_NAME {
        return fail(format!("is {} characters long; Kafka allows {MAX_NAME}", name.len()));
    }
    if let Some(c) = name.chars().find(|c| !legal(*c)) {
        return fail(format!(
            "contains {c:?}; topic names use only letters, digits, `.`, `_` and `-`"
        ));
    }
    Ok(())
}

fn legal(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Which topic names a team allows, beyond Kafka's own rules.
#[derive(Debug, Clone)]
pub enum NamingRule {
    /// Any name Kafka accepts.
    Any,
    /// Names matching a regular expression (anchored at both ends).
    Convention(regex::Regex),
    /// Names matching one of these glob patterns (`*` any run, `?` one character).
    AllowList(Vec<glob::Pattern>),
}

impl NamingRule {
    /// A convention as a regular expression; the whole name must match.
    ///
    /// ```
    /// use kflow_kafka::NamingRule;
    /// let rule = NamingRule::convention(r"[a-z]+(\.[a-z0-9-]+)+").unwrap();
    /// assert!(rule.check("pipeline.a.step-1").is_ok());
    /// assert!(rule.check("Pipeline").unwrap_err().to_string().contains("naming convention"));
    /// ```
    pub fn convention(pattern: &str) -> Result<Self> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .map(NamingRule::Convention)
            .map_err(|e| Error::Config {
                key: "naming convention".into(),
                reason: format!("`{pattern}` is not a regular expression: {e}"),
            })
    }

    /// An allow-list of names or glob patterns.
    ///
    /// ```
    /// use kflow_kafka::NamingRule;
    /// let rule = NamingRule::allow(["orders", "tenant-*.events"]).unwrap();
    /// assert!(rule.check("tenant-acme.events").is_ok());
    /// assert!(rule.check("payments").unwrap_err().to_string().contains("allow-list"));
    /// ```
    pub fn allow<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        patterns
            .into_iter()
            .map(|p| {
                glob::Pattern::new(p).map_err(|e| Error::Config {
                    key: "topic allow-list".into(),
                    reason: format!("`{p}` is not a glob pattern: {e}"),
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(NamingRule::AllowList)
    }

    /// Checks Kafka's rules, then this rule; the error names the topic and the rule.
    pub fn check(&self, name: &str) -> Result<()> {
        check_topic_name(name)?;
        let reason = match self {
            NamingRule::Any => return Ok(()),
            NamingRule::Convention(re) if re.is_match(name) => return Ok(()),
            NamingRule::Convention(re) => format!("does not follow the naming convention `{}`", re.as_str()),
            NamingRule::AllowList(list) if list.iter().any(|p| p.matches(name)) => return Ok(()),
            NamingRule::AllowList(list) => format!(
                "is not in the allow-list ({})",
                list.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
            ),
        };
        Err(Error::topic(name, reason))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(String),
}

/// A topic name with `${variable}` placeholders.
///
/// ```
/// use kflow_kafka::{NamingRule, TopicTemplate};
/// let t = TopicTemplate::parse("pipeline.${pipeline}.step.${step}.output").unwrap();
/// assert_eq!(t.variables(), ["pipeline", "step"]);
/// let name = t.render(&[("pipeline", "billing"), ("step", "2")], &NamingRule::Any).unwrap();
/// assert_eq!(name, "pipeline.billing.step.2.output");
/// let err = t.render(&[("pipeline", "billing")], &NamingRule::Any).unwrap_err();
/// assert!(err.to_string().contains("`step`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate {
    text: String,
    parts: Vec<Part>,
}

impl TopicTemplate {
    /// Parses a template. Errors: an unclosed `${`, an empty or malformed variable name,
    /// or literal text Kafka does not allow in names.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: String| Error::Config {
            key: "topic template".into(),
            reason: format!("`{text}`: {reason}"),
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| {
                bad(format!(
                    "`${{` at character {} is not closed",
                    text.len() - rest.len() + start
                ))
            })?;
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad(format!(
                    "`${{{name}}}` is not a variable (use letters, digits and `_`)"
                )));
            }
            parts.push(Part::Var(name.to_string()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        for part in &parts {
            if let Part::Text(t) = part {
                if let Some(c) = t.chars().find(|c| !legal(*c)) {
                    return Err(bad(format!(
                        "contains {c:?}; topic names use only letters, digits, `.`, `_` and `-`"
                    )));
                }
            }
        }
        Ok(TopicTemplate {
            text: text.to_string(),
            parts,
        })
    }

    /// The variables, in order of first use.
    pub fn variables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for part in &self.parts {
            if let Part::Var(v) = part {
                if !out.contains(&v.as_str()) {
                    out.push(v);
                }
            }
        }
        out
    }

    /// Fills in the variables and checks the name against Kafka's rules and `rule`.
    /// Errors name a missing variable, a value with characters a topic name cannot hold,
    /// or the rule the name breaks. Variables the template does not use are ignored.
    pub fn render(&self, vars: &[(&str, &str)], rule: &NamingRule) -> Result<String> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        let mut name = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => name.push_str(t),
                Part::Var(v) => {
                    let value = vars.get(v.as_str()).ok_or_else(|| Error::Config {
                        key: format!("topic template `{}`", self.text),
                        reason: format!("no value for `{v}` (variables: {})", self.variables().join(", ")),
                    })?;
                    if value.is_empty() || !value.chars().all(legal) {
                        return Err(Error::Config {
                            key: format!("topic template `{}`", self.text),
                            reason: format!(
                                "`{v}` = {value:?} cannot be part of a topic name (non-empty; letters, digits, `.`, `_`, `-`)"
                            ),
                        });
                    }
                    name.push_str(value);
                }
            }
        }
        rule.check(&name)?;
        Ok(name)
    }
}

impl std::fmt::Display for TopicTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}
