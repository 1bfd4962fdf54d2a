//! Named connection profiles in a config file.
//!
//! `--profile NAME` (or `KFLOW_PROFILE`) takes brokers, librdkafka properties and the
//! schema registry from `[profiles.NAME]` in `--config-file` (or `KFLOW_CONFIG`, else
//! `$XDG_CONFIG_HOME/kflow/config.toml`, else `~/.config/kflow/config.toml`):
//!
//! ```toml
//! [profiles.staging]
//! brokers = "kafka-1.staging:9092,kafka-2.staging:9092"
//! schema_registry = "https://registry.staging:8081"
//! [profiles.staging.properties]
//! "security.protocol" = "SASL_SSL"
//! "sasl.mechanism" = "PLAIN"
//! ```
//!
//! Flags win over the profile, the profile over the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// One profile.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Bootstrap brokers.
    pub brokers: Option<String>,
    /// The schema registry URL.
    pub schema_registry: Option<String>,
    /// librdkafka properties.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Property values may be secrets (sasl.password, ssl.key.password).
        f.debug_struct("Profile")
            .field("brokers", &self.brokers)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Where the config file is when no flag or variable names it.
fn default_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("kflow/config.toml"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config/kflow/config.toml"))
}

/// The profile `name` from `file` (or the default file).
pub fn load(name: &str, file: Option<&Path>) -> Result<Profile> {
    let path = match file {
        Some(p) => p.to_path_buf(),
        None => default_path().context("no config file: pass --config-file or set KFLOW_CONFIG")?,
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("profile `{name}`: cannot read the config file {}", path.display()))?;
    let config: ConfigFile =
        toml::from_str(&text).with_context(|| format!("the config file {} is not valid", path.display()))?;
    let Some(profile) = config.profiles.get(name) else {
        let known: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
        bail!(
            "no profile `{name}` in {} (profiles: {})",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    Ok(profile.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_read_and_mistakes_are_named() {
        let dir = std::env::temp_dir().join(format!("kflow-profiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(
            &file,
            "[profiles.a]\nbrokers = \"h:1\"\n[profiles.a.properties]\n\"sasl.password\" = \"s3cret\"\n",
        )
        .unwrap();
        let p = load("a", Some(&file)).unwrap();
        assert_eq!(p.brokers.as_deref(), Some("h:1"));
        assert!(!format!("{p:?}").contains("s3cret"), "secrets stay out of Debug");
        let err = load("b", Some(&file)).unwrap_err().to_string();
        assert!(err.contains("no profile `b`") && err.contains("profiles: a"), "{err}");
        std::fs::write(&file, "[profiles.a]\nbroker = \"h:1\"\n").unwrap();
        let err = format!("{:#}", load("a", Some(&file)).unwrap_err());
        assert!(err.contains("broker"), "the unknown key is named: {err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
