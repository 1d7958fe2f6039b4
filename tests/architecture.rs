//! The house rules of ARCHITECTURE.md, checked on the source text: every top-level module imports only
//! modules of a lower layer (nothing imports up the pipeline, so no cycle between rooms), no two
//! modules of one room import each other in a loop, no file of `src/` grows past 700 lines, and
//! `main.rs` stays a thin command line. `cargo test --test architecture` runs it alone.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first. A module may import modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    &["source", "hash", "files", "cli"],
    &["diagnostics"],
    &["syntax", "study"],
    &["check", "plan", "data", "eval", "backend"],
    &["model"],
    &["train", "probe", "power"],
    &["report", "exec"],
    &["cells", "bundle", "simulate"],
    &["publish"],
];

const MAX_LINES: usize = 700;
const MAX_MAIN_LINES: usize = 300;

/// Every `.rs` file of `src/` with its module path (`data::images`; `""` for lib.rs) and its text
/// without the test module at its end.
fn modules() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let root = stack[0].clone();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).expect("under src");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
            out.push((parts.join("::"), rel.display().to_string(), code));
        }
    }
    out.sort();
    out
}

/// The module paths a file's code names through `crate::…` (grouped `use crate::{a, b::c}` included).
fn references(code: &str) -> Vec<String> {
    let single = Regex::new(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)").expect("regex");
    let group = Regex::new(r"crate::\{([^}]*)\}").expect("regex");
    let mut out: Vec<String> = single
        .captures_iter(code)
        .map(|c| c[1].to_string())
        .collect();
    for c in group.captures_iter(code) {
        for part in c[1].split(',') {
            let name: String = part
                .trim()
                .chars()
                .take_while(|ch| ch.is_alphanumeric() || *ch == '_' || *ch == ':')
                .collect();
            if !name.is_empty() {
                out.push(name.trim_end_matches(':').to_string());
            }
        }
    }
    out
}

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&top))
}

#[test]
fn every_module_imports_only_lower_layers() {
    let mut upward = Vec::new();
    for (module, file, code) in modules() {
        let Some(top) = module.split("::").next().filter(|t| !t.is_empty()) else {
            continue; // the crate root wires the stages together
        };
        if top == "main" {
            continue;
        }
        let own = layer_of(top).unwrap_or_else(|| panic!("{file}: module `{top}` has no layer"));
        for target in references(&code) {
            let target_top = target.split("::").next().unwrap_or_default();
            if target_top == top {
                continue;
            }
            let layer = layer_of(target_top)
                .unwrap_or_else(|| panic!("{file}: `crate::{target}` names no layered module"));
            if layer >= own {
                upward.push(format!("{file} imports crate::{target}"));
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(
        upward.is_empty(),
        "imports that do not go down the layers of ARCHITECTURE.md:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_two_modules_of_a_room_import_each_other_in_a_loop() {
    let modules = modules();
    let known: BTreeSet<&str> = modules.iter().map(|(m, _, _)| m.as_str()).collect();
    // The longest module path that a reference names.
    let resolve = |path: &str| -> Option<String> {
        let parts: Vec<&str> = path.split("::").collect();
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|p| known.contains(p.as_str()))
    };
    let related = |a: &str, b: &str| {
        a == b || a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
    };
    let sibling = Regex::new(r"super::([a-z_][a-z0-9_]*)").expect("regex");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, _, code) in &modules {
        // `super` is the parent module (a folder's mod.rs is the folder's module itself).
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        let mut targets: Vec<String> = references(code).iter().filter_map(|r| resolve(r)).collect();
        for c in sibling.captures_iter(code) {
            let name = if parent.is_empty() {
                c[1].to_string()
            } else {
                format!("{parent}::{}", &c[1])
            };
            targets.extend(resolve(&name));
        }
        for t in targets {
            if !related(module, &t) {
                edges.entry(module.clone()).or_default().insert(t);
            }
        }
    }
    // A loop is a module that reaches itself.
    let mut loops = Vec::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = edges[start].iter().collect();
        while let Some(m) = stack.pop() {
            if m == start {
                loops.push(start.clone());
                break;
            }
            if seen.insert(m.clone())
                && let Some(next) = edges.get(m)
            {
                stack.extend(next.iter());
            }
        }
    }
    assert!(
        loops.is_empty(),
        "modules on an import loop: {}",
        loops.join(", ")
    );
}

#[test]
fn files_stay_small_and_main_stays_thin() {
    let mut big = Vec::new();
    for (module, file, _) in modules() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(&file);
        let lines = std::fs::read_to_string(&path)
            .expect("readable")
            .lines()
            .count();
        let limit = if module == "main" {
            MAX_MAIN_LINES
        } else {
            MAX_LINES
        };
        if lines > limit {
            big.push(format!("{file}: {lines} lines (at most {limit})"));
        }
    }
    assert!(big.is_empty(), "files too long:\n{}", big.join("\n"));
}

#[test]
fn the_checks_see_the_imports_they_judge() {
    // A guard on the reader itself: a grouped import and a nested path are both found.
    let found =
        references("use crate::{data::gray::Gray, plan};\nlet x = crate::exec::store::Store;");
    for expected in ["data::gray::Gray", "plan", "exec::store"] {
        assert!(
            found.iter().any(|f| f == expected),
            "{expected} in {found:?}"
        );
    }
    assert_eq!(layer_of("cells"), Some(LAYERS.len() - 2));
    assert_eq!(layer_of("publish"), Some(LAYERS.len() - 1));
}
