//! Every crate's modules form layers, and imports point down only: a module may use
//! modules of lower layers (and, in the base layer, its siblings), never one of the
//! same or a higher layer. So there is no module cycle in any crate.
//!
//! The check reads the sources: every `crate::<module>` path outside comments, in every
//! file of a module, names the module it depends on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A crate's layers, lowest first; modules in the first layer may use each other.
struct Layers {
    src: &'static str,
    layers: &'static [&'static [&'static str]],
}

const CRATES: [Layers; 4] = [
    Layers {
        src: "core/src",
        layers: &[
            &["record", "key", "error", "codec"],
            &["ack", "telemetry"],
            &["event"],
            &["transport"],
            &["policy"],
            &["flow"],
            &["state"],
            &["window"],
            &["runtime"],
            &["testing"],
        ],
    },
    Layers {
        src: "connectors/kafka/src",
        layers: &[&["config", "convert", "embedded"], &["toolkit"], &["transport"]],
    },
    Layers {
        src: "connectors/schema-registry/src",
        layers: &[&["config"], &["registry"], &["avro", "json_schema"]],
    },
    Layers {
        src: "macros/src",
        layers: &[&["errors"], &["policy"], &["args"], &["listener", "processor"]],
    },
];

fn rank(layers: &Layers, module: &str) -> Option<usize> {
    layers.layers.iter().position(|l| l.contains(&module))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top module a file belongs to (`flow` for `flow/mod.rs` and `flow/to.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" | "bin" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

/// The modules `text` names as `crate::<module>` outside comments, including each first
/// segment of a group (`crate::{flow::Flow, window::Tumbling}`, across lines too).
fn uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = &rest[..at];
        rest = &rest[at + "crate::".len()..];
        // `kflow_core::x` and `$crate::x` alike are paths into this crate only when
        // `crate` is the whole word.
        if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        match rest.strip_prefix('{') {
            Some(group) => found.extend(group_heads(group)),
            None => found.extend(ident(rest)),
        }
    }
    found
}

/// The identifier `text` starts with, if any.
fn ident(text: &str) -> Option<String> {
    let name: String = text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

/// The first segment of each item of a `{..}` group, `group` starting after its `{`.
fn group_heads(group: &str) -> Vec<String> {
    let (mut heads, mut depth, mut item_start) = (Vec::new(), 0usize, true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && !c.is_whitespace() => {
                item_start = false;
                heads.extend(ident(&group[i..]).filter(|h| h != "self"));
            }
            _ => {}
        }
    }
    heads
}

#[test]
fn imports_point_down_the_layers_of_every_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut wrong = Vec::new();
    for krate in &CRATES {
        let src = root.join(krate.src);
        let mut all = Vec::new();
        files(&src, &mut all);
        assert!(!all.is_empty(), "no sources under {}", src.display());
        for file in all {
            let Some(module) = module_of(&src, &file) else {
                continue;
            };
            let Some(own) = rank(krate, &module) else {
                wrong.push(format!(
                    "{}: module `{module}` is in no layer of {}",
                    file.display(),
                    krate.src
                ));
                continue;
            };
            let text = std::fs::read_to_string(&file).unwrap();
            for used in uses(&text) {
                if used == module {
                    continue;
                }
                match rank(krate, &used) {
                    // Names the crate root re-exports (`crate::Error`) are not modules.
                    None if used.starts_with(|c: char| c.is_uppercase()) => wrong.push(format!(
                        "{}: uses `crate::{used}`, a re-export; import it from its module",
                        file.display()
                    )),
                    None => {}
                    Some(r) if r < own || (r == 0 && own == 0) => {}
                    Some(_) => wrong.push(format!(
                        "{}: `{module}` uses `{used}`, which is not below it",
                        file.display()
                    )),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not point down:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_uses_and_skips_comments_and_other_crates() {
    let text = "use crate::flow::Flow;\n// crate::runtime in a comment\nlet x = kflow_core::window::Tumbling;\n$crate::policy::fail()";
    assert_eq!(uses(text), BTreeSet::from(["flow".to_string(), "policy".to_string()]));
    let grouped = "use crate::{\n    flow::{Flow, Msg},\n    // crate::testing\n    window::Tumbling,\n};";
    assert_eq!(
        uses(grouped),
        BTreeSet::from(["flow".to_string(), "window".to_string()])
    );
}
