//! Datasets: the dispatch over their sources (manifest, folders, synthetic, union) and what they share
//! (paths, columns, label maps, declared classes and sources, error policy).

mod csv;
mod filter;
mod folders;
mod synthetic;
mod union;

pub(in crate::check) use filter::compare_op;

use crate::check::Checker;
use crate::check::values::{Allow, Entries, decl_owner};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::study::*;
use crate::syntax::ast::{self, Decl, Value};
use indexmap::IndexMap;

/// Metadata roles a manifest maps to columns.
pub(in crate::check) const ROLES: &[&str] =
    &["image", "label", "source", "patient", "age", "sex", "view"];

pub(in crate::check) fn label_map_classes(map: &LabelMap) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in map.entries.values().chain(map.wildcard.iter()) {
        if let LabelTarget::Class(c) = t
            && !out.contains(c)
        {
            out.push(c.clone());
        }
    }
    out
}

impl Checker<'_> {
    pub(in crate::check) fn dataset(&mut self, decl: &Decl) -> Option<Dataset> {
        let example =
            "dataset cxr = csv(\"manifest.csv\") { image column \"path\", label column \"label\" }";
        let (variant, call) = self.variant(
            decl,
            &["csv", "folders", "dicom", "synthetic", "union"],
            example,
        )?;
        let owner = decl_owner(decl);
        let origin = self.origin(decl.name_span());
        match variant.name.as_str() {
            "csv" => self.csv_dataset(decl, call, &owner, origin),
            "folders" | "dicom" => {
                self.folder_dataset(decl, call, &owner, origin, variant.name == "dicom")
            }
            "synthetic" => self.synthetic_dataset(decl, call, &owner, origin),
            _ => self.union_dataset(decl, call, origin),
        }
    }

    /// The single path argument of `csv("...")`, `folders("...")`, `dicom("...")`.
    pub(in crate::check) fn path_argument(
        &mut self,
        decl: &Decl,
        call: Option<&ast::Call>,
        what: &str,
    ) -> Option<String> {
        let Some(call) = call else {
            self.missing(
                decl.value.as_ref().map_or(decl.span, Value::span),
                "this dataset",
                what,
                &format!("{what}(\"path\")"),
            );
            return None;
        };
        let args = self.args(call, "this dataset", &["path"], 1);
        match args.get("path") {
            Some(v) => self.path(v, "the path"),
            None => {
                self.missing(
                    call.span,
                    &format!("`{}(...)`", call.name.name),
                    "path",
                    &format!("{}(\"path\")", call.name.name),
                );
                None
            }
        }
    }

    /// `key column "name"`; reports a missing required column.
    pub(in crate::check) fn column_entry(
        &mut self,
        e: &Entries,
        key: &str,
        owner: &str,
        required: bool,
    ) -> Option<String> {
        match e.get(key) {
            Some(entry) => self.column_of(entry),
            None if required => {
                self.missing(e.span, owner, key, &format!("{key} column \"{key}\""));
                None
            }
            None => None,
        }
    }

    /// The column name of `key column "name"`.
    pub(in crate::check) fn column_of(&mut self, entry: &ast::Entry) -> Option<String> {
        match entry.values.as_slice() {
            [kw, Value::Str(s)] if kw.as_ident().is_some_and(|i| i.name == "column") => {
                if s.value.is_empty() {
                    self.out_of_range(
                        s.span,
                        "the column name is empty".into(),
                        "name the CSV column",
                    );
                    return None;
                }
                Some(s.value.clone())
            }
            _ => {
                let key = &entry.key.name;
                self.error(
                    Diagnostic::new(Code::WrongType, format!("`{key}` names a manifest column"))
                        .at(entry.span, "expected `column \"NAME\"`")
                        .help(format!("write `{key} column \"{key}\"`")),
                );
                None
            }
        }
    }

    /// `meta { site "site", finding "Finding Labels" }`
    pub(in crate::check) fn meta_columns(
        &mut self,
        entry: &ast::Entry,
    ) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        let Some(block) = &entry.block else {
            self.error(
                Diagnostic::new(Code::WrongType, "`meta` maps metadata names to columns")
                    .at(entry.span, "expected a block")
                    .help("write `meta { site \"site\", finding \"finding\" }`"),
            );
            return out;
        };
        for item in &block.items {
            let ast::BlockItem::Entry(m) = item else {
                self.error(
                    Diagnostic::new(Code::WrongType, "expected `name \"column\"`")
                        .at(item.span(), "not a metadata column"),
                );
                continue;
            };
            if ROLES.contains(&m.key.name.as_str()) {
                self.error(
                    Diagnostic::new(
                        Code::DuplicateEntry,
                        format!("`{}` is a built-in role, not extra metadata", m.key.name),
                    )
                    .at(m.key.span, "built-in role")
                    .help(format!(
                        "map it with `{} column \"...\"` outside `meta`",
                        m.key.name
                    )),
                );
                continue;
            }
            if let Some(v) = self.one(m)
                && let Some(col) = self.string(v, "a metadata column")
                && out.insert(m.key.name.clone(), col).is_some()
            {
                self.error(
                    Diagnostic::new(
                        Code::DuplicateEntry,
                        format!("`{}` is mapped twice", m.key.name),
                    )
                    .at(m.key.span, "again here"),
                );
            }
        }
        out
    }

    /// `{ "COVID-19" => covid, * => other }`; `drop` as a target leaves rows out.
    pub(in crate::check) fn label_map(&mut self, block: &ast::Block) -> Option<LabelMap> {
        let e = self.entries(
            Some(block),
            "a label map",
            &[],
            Allow {
                mappings: true,
                ..Allow::default()
            },
            block.span,
        );
        let mut map = LabelMap {
            entries: IndexMap::new(),
            wildcard: None,
        };
        let mut wildcard_span: Option<Span> = None;
        for m in &e.mappings {
            let target = if m.to.name == "drop" {
                LabelTarget::Drop
            } else {
                LabelTarget::Class(m.to.name.clone())
            };
            match &m.from {
                Some(raw) => {
                    if map.entries.insert(raw.value.clone(), target).is_some() {
                        self.error(
                            Diagnostic::new(
                                Code::DuplicateEntry,
                                format!("\"{}\" is mapped twice", raw.value),
                            )
                            .at(raw.span, "mapped again")
                            .help("each raw value maps to one class"),
                        );
                    }
                }
                None => {
                    if let Some(first) = wildcard_span {
                        self.error(
                            Diagnostic::new(
                                Code::DuplicateEntry,
                                "the wildcard `*` is mapped twice",
                            )
                            .at(m.span, "again here")
                            .also(first, "first here"),
                        );
                    }
                    wildcard_span = Some(m.span);
                    map.wildcard = Some(target);
                }
            }
        }
        // One class is allowed: a collection of covid images only is a part of a union, and whether a
        // split trains on two classes is checked where the split names its data.
        if label_map_classes(&map).is_empty() {
            self.error(
                Diagnostic::new(Code::OutOfRange, "the label map drops every label")
                    .at(block.span, "no class")
                    .help("map at least one raw value to a class name"),
            );
            return None;
        }
        Some(map)
    }

    pub(in crate::check) fn declared_classes(
        &mut self,
        e: &Entries,
        map: Option<&LabelMap>,
    ) -> Option<Vec<String>> {
        let value = e.get("classes").and_then(|c| self.one(c));
        let declared = value.and_then(|v| self.names(v, "a class"));
        match (declared, map) {
            (Some(list), Some(map)) => {
                // `classes` names the classes of the study; the map may produce some of them only (a
                // collection of one label), never another.
                let names: Vec<&str> = list.iter().map(|(c, _)| c.as_str()).collect();
                let undeclared: Vec<String> = label_map_classes(map)
                    .into_iter()
                    .filter(|c| !names.contains(&c.as_str()))
                    .collect();
                if let (Some(first), Some(v)) = (undeclared.first(), value) {
                    self.error(
                        Diagnostic::new(
                            Code::UnknownClass,
                            format!("the label map produces class `{first}`, which `classes` does not list"),
                        )
                        .at(v.span(), "the declared classes")
                        .help(format!("add `{}` to `classes`, or map to one of: {}", undeclared.join("`, `"), names.join(", "))),
                    );
                }
                Some(list.into_iter().map(|(c, _)| c).collect())
            }
            (Some(list), None) => Some(list.into_iter().map(|(c, _)| c).collect()),
            (None, Some(map)) => Some(label_map_classes(map)),
            (None, None) => None,
        }
    }

    pub(in crate::check) fn declared_sources(&mut self, e: &Entries) -> Option<Vec<String>> {
        let v = e.get("sources").and_then(|s| self.one(s))?;
        let names = self.names(v, "a source")?;
        Some(names.into_iter().map(|(n, _)| n).collect())
    }

    /// `max_pixels N`: the pixel limit of the dataset's images (one pixel up to a trillion).
    pub(in crate::check) fn max_pixels(&mut self, e: &Entries) -> Option<u64> {
        let v = e.get("max_pixels").and_then(|x| self.one(x))?;
        self.integer(v, "max_pixels", 1, 1_000_000_000_000, false)
    }

    pub(in crate::check) fn on_error(&mut self, e: &Entries) -> OnError {
        match e
            .get("on_error")
            .and_then(|x| self.one(x))
            .and_then(|v| self.choice(v, "on_error policy", &["fail", "skip"]))
        {
            Some(s) if s == "skip" => OnError::Skip,
            _ => OnError::Fail,
        }
    }
}

impl Checker<'_> {
    /// The classes with images in `sources` of a synthetic dataset (known from its label shares).
    pub(in crate::check) fn synthetic_classes(
        &self,
        dataset: &str,
        sources: &[String],
    ) -> Option<Vec<String>> {
        let DatasetSource::Synthetic(s) = &self.study.datasets.get(dataset)?.source else {
            return None;
        };
        let mut classes: Vec<String> = Vec::new();
        for source in sources.iter().filter_map(|n| s.sources.get(n)) {
            for (class, share) in &source.labels {
                if *share > 0.0 && !classes.contains(class) {
                    classes.push(class.clone());
                }
            }
        }
        Some(classes)
    }

    /// The image side and the number of images of a synthetic dataset: known before any file is read.
    pub(in crate::check) fn synthetic_shape(&self, dataset: &str) -> Option<(u32, u32)> {
        match &self.study.datasets.get(dataset)?.source {
            DatasetSource::Synthetic(s) => {
                Some((s.size, s.sources.values().map(|x| x.images).sum()))
            }
            _ => None,
        }
    }
}
