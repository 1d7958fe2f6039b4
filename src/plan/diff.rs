//! `study diff`: how two checked studies differ in meaning. Declarations are matched by name, and by
//! content when a name changed; a changed declaration lists its changed fields with the values before and
//! after; then the consequence: which cells of the two plans are the same computation and which are not.
//! Layout and comments are not meaning: two studies with one fingerprint are equal.

use super::{Plan, plan};
use crate::hash::canonical;
use crate::study::Study;
use serde::Serialize;
use serde_json::Value;

/// One field of a declaration that differs: its path in the declaration and the values as text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum DeclarationChange {
    Added {
        kind: String,
        name: String,
        at: String,
    },
    Removed {
        kind: String,
        name: String,
        at: String,
    },
    /// The same content under another name.
    Renamed {
        kind: String,
        from: String,
        to: String,
        at: (String, String),
    },
    Changed {
        kind: String,
        name: String,
        fields: Vec<FieldChange>,
        at: (String, String),
    },
}

/// Which computations the two plans share: cells by name, with the same or another content id.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CellChanges {
    pub same: usize,
    /// Same name, other content: their results are not comparable.
    pub changed: Vec<String>,
    pub only_first: Vec<String>,
    pub only_second: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StudyDiff {
    pub fingerprints: (String, String),
    /// Equal in meaning: one fingerprint (layout and comments may differ).
    pub equal: bool,
    /// The study header (`name`, `seed`, `repeats`, ...).
    pub header: Vec<FieldChange>,
    pub declarations: Vec<DeclarationChange>,
    pub cells: CellChanges,
}

/// Each kind of declaration: its field in `Study` and its keyword.
const KINDS: [(&str, &str); 10] = [
    ("datasets", "dataset"),
    ("segmenters", "segmenter"),
    ("crops", "crop"),
    ("preprocessings", "preprocess"),
    ("models", "model"),
    ("trainings", "train"),
    ("splits", "split"),
    ("experiments", "experiment"),
    ("probes", "probe"),
    ("hypotheses", "hypothesis"),
];

/// Header fields that are not declarations (`output` is where results go, not what they are).
const HEADER: [&str; 5] = ["name", "description", "seed", "repeats", "max_trainings"];

pub fn diff(a: &Study, b: &Study) -> StudyDiff {
    let (plan_a, plan_b) = (plan(a), plan(b));
    let (ca, cb) = (canonical(a), canonical(b));
    let mut header = Vec::new();
    for field in HEADER {
        fields(field, &ca[field], &cb[field], &mut header);
    }
    fields("report", &ca["report"], &cb["report"], &mut header);
    // Locations are not meaning: they are read from the studies as written.
    let (ja, jb) = (
        serde_json::to_value(a).unwrap_or_default(),
        serde_json::to_value(b).unwrap_or_default(),
    );
    let mut declarations = Vec::new();
    for (field, kind) in KINDS {
        let sides = Sides {
            a: &ja,
            b: &jb,
            field,
        };
        declarations.extend(kind_changes(kind, &sides, &ca[field], &cb[field]));
    }
    StudyDiff {
        equal: plan_a.fingerprint == plan_b.fingerprint,
        fingerprints: (plan_a.fingerprint.clone(), plan_b.fingerprint.clone()),
        header,
        declarations,
        cells: cell_changes(&plan_a, &plan_b),
    }
}

/// The two studies as written (with locations), and the kind of declaration compared.
struct Sides<'a> {
    a: &'a Value,
    b: &'a Value,
    field: &'a str,
}

impl Sides<'_> {
    /// Where a declaration is written (`file:line:column`) in the first or second study.
    fn at(&self, second: bool, name: &str) -> String {
        let study = if second { self.b } else { self.a };
        study[self.field][name]["origin"]["location"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn kind_changes(kind: &str, sides: &Sides, va: &Value, vb: &Value) -> Vec<DeclarationChange> {
    let empty = serde_json::Map::new();
    let (ma, mb) = (
        va.as_object().unwrap_or(&empty),
        vb.as_object().unwrap_or(&empty),
    );
    let mut out = Vec::new();
    let mut removed: Vec<&String> = ma.keys().filter(|k| !mb.contains_key(*k)).collect();
    let mut added: Vec<&String> = mb.keys().filter(|k| !ma.contains_key(*k)).collect();
    // A removed and an added declaration of the same content: a rename.
    removed.retain(
        |r| match added.iter().position(|n| mb[n.as_str()] == ma[r.as_str()]) {
            Some(k) => {
                let to = added.remove(k);
                out.push(DeclarationChange::Renamed {
                    kind: kind.into(),
                    from: r.to_string(),
                    to: to.clone(),
                    at: (sides.at(false, r), sides.at(true, to)),
                });
                false
            }
            None => true,
        },
    );
    for name in ma.keys().filter(|k| mb.contains_key(*k)) {
        let mut changed = Vec::new();
        fields("", &ma[name], &mb[name], &mut changed);
        if !changed.is_empty() {
            out.push(DeclarationChange::Changed {
                kind: kind.into(),
                name: name.clone(),
                fields: changed,
                at: (sides.at(false, name), sides.at(true, name)),
            });
        }
    }
    out.extend(removed.into_iter().map(|name| DeclarationChange::Removed {
        kind: kind.into(),
        name: name.clone(),
        at: sides.at(false, name),
    }));
    out.extend(added.into_iter().map(|name| DeclarationChange::Added {
        kind: kind.into(),
        name: name.clone(),
        at: sides.at(true, name),
    }));
    out
}

/// The fields under `path` that differ, recursing into objects; lists and values are compared whole.
fn fields(path: &str, a: &Value, b: &Value, out: &mut Vec<FieldChange>) {
    if a == b {
        return;
    }
    let rule = |v: &Value| serde_json::from_value::<crate::study::Condition>(v.clone()).ok();
    let both_rules = rule(a).is_some() && rule(b).is_some();
    if let (Value::Object(ma), Value::Object(mb), false) = (a, b, both_rules) {
        let mut keys: Vec<&String> = ma.keys().chain(mb.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let sub = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            fields(
                &sub,
                ma.get(k).unwrap_or(&Value::Null),
                mb.get(k).unwrap_or(&Value::Null),
                out,
            );
        }
        return;
    }
    // Lists of records of one length (a grid's points) differ record by record.
    if let (Value::Array(xa), Value::Array(xb)) = (a, b)
        && xa.len() == xb.len()
        && xa.iter().chain(xb).all(Value::is_object)
    {
        for (k, (x, y)) in xa.iter().zip(xb).enumerate() {
            fields(&format!("{path}[{k}]"), x, y, out);
        }
        return;
    }
    out.push(FieldChange {
        field: path.to_string(),
        before: value_text(a),
        after: value_text(b),
    });
}

/// A value as a study would write it: `8`, `figure1`, `[figure1, nih]`, `–` for none; a rule as its text.
fn value_text(v: &Value) -> String {
    if let Ok(c) = serde_json::from_value::<crate::study::Condition>(v.clone()) {
        return format!("`{}`", c.render());
    }
    match v {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(value_text).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(_) => v.to_string(),
        other => other.to_string(),
    }
}

fn cell_changes(a: &Plan, b: &Plan) -> CellChanges {
    let ids_b: std::collections::HashMap<&str, &str> = b
        .cells
        .iter()
        .map(|c| (c.name.as_str(), c.id.as_str()))
        .collect();
    let mut out = CellChanges::default();
    for c in &a.cells {
        match ids_b.get(c.name.as_str()) {
            Some(id) if *id == c.id => out.same += 1,
            Some(_) => out.changed.push(c.name.clone()),
            None => out.only_first.push(c.name.clone()),
        }
    }
    let names_a: std::collections::HashSet<&str> =
        a.cells.iter().map(|c| c.name.as_str()).collect();
    out.only_second = b
        .cells
        .iter()
        .filter(|c| !names_a.contains(c.name.as_str()))
        .map(|c| c.name.clone())
        .collect();
    out
}

/// How many cell names a list shows before counting the rest.
const CELLS_SHOWN: usize = 12;

fn cell_list(title: &str, cells: &[String], out: &mut String) {
    if cells.is_empty() {
        return;
    }
    out.push_str(&format!("  {title} ({}):\n", cells.len()));
    for c in cells.iter().take(CELLS_SHOWN) {
        out.push_str(&format!("    {c}\n"));
    }
    if cells.len() > CELLS_SHOWN {
        out.push_str(&format!("    … and {} more\n", cells.len() - CELLS_SHOWN));
    }
}

/// `epochs: 6 → 8`, one line per field, indented.
fn field_lines(fields: &[FieldChange], indent: &str) -> String {
    fields
        .iter()
        .map(|f| {
            let name = if f.field.is_empty() {
                "value"
            } else {
                &f.field
            };
            format!("{indent}{name}: {} → {}\n", f.before, f.after)
        })
        .collect()
}

impl DeclarationChange {
    /// The change in one line (`train `quick` changed`), and its fields.
    pub fn title(&self) -> (String, String) {
        match self {
            DeclarationChange::Added { kind, name, .. } => {
                (format!("{kind} `{name}` added"), String::new())
            }
            DeclarationChange::Removed { kind, name, .. } => {
                (format!("{kind} `{name}` removed"), String::new())
            }
            DeclarationChange::Renamed { kind, from, to, .. } => (
                format!("{kind} `{from}` renamed `{to}`, same content"),
                String::new(),
            ),
            DeclarationChange::Changed {
                kind, name, fields, ..
            } => (format!("{kind} `{name}` changed"), field_lines(fields, "")),
        }
    }

    /// Where the declaration is in the first and the second study (`None` on the side without it).
    pub fn places(&self) -> (Option<&str>, Option<&str>) {
        match self {
            DeclarationChange::Added { at, .. } => (None, Some(at)),
            DeclarationChange::Removed { at, .. } => (Some(at), None),
            DeclarationChange::Renamed { at, .. } | DeclarationChange::Changed { at, .. } => {
                (Some(&at.0), Some(&at.1))
            }
        }
    }

    /// The declaration's kind and its names in the first and the second study.
    pub fn names(&self) -> (&str, Option<&str>, Option<&str>) {
        match self {
            DeclarationChange::Added { kind, name, .. } => (kind, None, Some(name)),
            DeclarationChange::Removed { kind, name, .. } => (kind, Some(name), None),
            DeclarationChange::Renamed { kind, from, to, .. } => (kind, Some(from), Some(to)),
            DeclarationChange::Changed { kind, name, .. } => (kind, Some(name), Some(name)),
        }
    }
}

/// Where a declaration is in the sources its study was checked from; `keyword` is its kind as written.
pub fn declared_at(study: &Study, keyword: &str, name: &str) -> Option<crate::source::Span> {
    let origin = match keyword {
        "dataset" => &study.datasets.get(name)?.origin,
        "segmenter" => &study.segmenters.get(name)?.origin,
        "crop" => &study.crops.get(name)?.origin,
        "preprocess" => &study.preprocessings.get(name)?.origin,
        "model" => &study.models.get(name)?.origin,
        "train" => &study.trainings.get(name)?.origin,
        "split" => &study.splits.get(name)?.origin,
        "experiment" => &study.experiments.get(name)?.origin,
        "probe" => &study.probes.get(name)?.origin,
        "hypothesis" => &study.hypotheses.get(name)?.origin,
        _ => return None,
    };
    origin.span
}

impl StudyDiff {
    /// The diff for a reader, each changed declaration as one line with its fields and its places.
    pub fn text(&self, first: &str, second: &str) -> String {
        self.text_with(first, second, |d| {
            let (title, fields) = d.title();
            let place = match d.places() {
                (Some(a), Some(b)) => format!("{a} → {b}"),
                (Some(a), None) | (None, Some(a)) => a.to_string(),
                (None, None) => String::new(),
            };
            let fields = fields
                .lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>();
            let mark = match d {
                DeclarationChange::Added { .. } => "+",
                DeclarationChange::Removed { .. } => "-",
                _ => "~",
            };
            format!(
                "  {mark} {title} ({place}){}\n{fields}",
                if fields.is_empty() { "" } else { ":" }
            )
        })
    }

    /// The diff with each declaration drawn by `declaration` (plain lines, or quoted sources).
    pub fn text_with(
        &self,
        first: &str,
        second: &str,
        declaration: impl Fn(&DeclarationChange) -> String,
    ) -> String {
        let mut out = String::new();
        if self.equal {
            out.push_str(&format!(
                "no change in meaning: {first} and {second} have one fingerprint ({})\n",
                &self.fingerprints.0[..16]
            ));
            return out;
        }
        out.push_str(&format!(
            "{first} ({}) and {second} ({}) differ in meaning:\n",
            &self.fingerprints.0[..16],
            &self.fingerprints.1[..16]
        ));
        if !self.header.is_empty() {
            out.push_str("  study header:\n");
            out.push_str(&field_lines(&self.header, "    "));
        }
        for d in &self.declarations {
            out.push_str(&declaration(d));
        }
        let c = &self.cells;
        out.push_str(&format!(
            "cells: {} the same computation, {} changed, {} only in {first}, {} only in {second}\n",
            c.same,
            c.changed.len(),
            c.only_first.len(),
            c.only_second.len()
        ));
        cell_list("changed (results not comparable)", &c.changed, &mut out);
        cell_list(&format!("only in {first}"), &c.only_first, &mut out);
        cell_list(&format!("only in {second}"), &c.only_second, &mut out);
        out
    }
}
