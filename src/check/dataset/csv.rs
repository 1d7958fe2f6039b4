//! Datasets read from a CSV manifest.

use crate::check::Checker;
use crate::check::values::Allow;
use crate::diagnostics::{Code, Diagnostic};
use crate::study::*;
use crate::syntax::ast::{self, Decl, Value};
use indexmap::IndexMap;

pub(in crate::check) const CSV_ENTRIES: &[&str] = &[
    "images",
    "image",
    "label",
    "source",
    "patient",
    "age",
    "sex",
    "view",
    "meta",
    "mask",
    "masks",
    "sources",
    "classes",
    "on_error",
    "max_pixels",
];

impl Checker<'_> {
    pub(in crate::check) fn csv_dataset(
        &mut self,
        decl: &Decl,
        call: Option<&ast::Call>,
        owner: &str,
        origin: Origin,
    ) -> Option<Dataset> {
        let manifest = self.path_argument(decl, call, "csv");
        let e = self.entries(
            decl.block.as_ref(),
            owner,
            CSV_ENTRIES,
            Allow {
                keep: true,
                ..Allow::default()
            },
            decl.span,
        );
        let image = self.column_entry(&e, "image", owner, true);
        let label_entry = e.get("label");
        let label = self.column_entry(&e, "label", owner, true);
        let label_map = label_entry
            .and_then(|l| l.block.as_ref())
            .and_then(|b| self.label_map(b));
        let source = e
            .get("source")
            .and_then(|entry| match entry.values.as_slice() {
                [Value::Str(s)] => Some(SourceColumn::Fixed(s.value.clone())),
                _ => self.column_of(entry).map(SourceColumn::Column),
            });
        let mut columns = Columns {
            image: image.clone().unwrap_or_default(),
            label: label.clone().unwrap_or_default(),
            source,
            patient: self.column_entry(&e, "patient", owner, false),
            age: self.column_entry(&e, "age", owner, false),
            sex: self.column_entry(&e, "sex", owner, false),
            view: self.column_entry(&e, "view", owner, false),
            extra: IndexMap::new(),
        };
        if let Some(meta) = e.get("meta") {
            columns.extra = self.meta_columns(meta);
        }
        let keep = self.keep_filter(&e, &columns);
        let mut masks = None;
        if let Some(m) = e.get("mask") {
            masks = self.column_of(m).map(DatasetMasks::Column);
        }
        if let Some(m) = e.get("masks").and_then(|m| self.one(m)) {
            if let Some(first) = e.get("mask") {
                self.error(
                    Diagnostic::new(
                        Code::IncompatibleChoice,
                        "masks come either from a column or from a folder",
                    )
                    .at(m.span(), "mask folder")
                    .also(first.span, "mask column")
                    .help("keep one of `mask column \"...\"` and `masks \"folder\"`"),
                );
            }
            masks = self.path(m, "the mask folder").map(DatasetMasks::Folder);
        }
        let classes = self.declared_classes(&e, label_map.as_ref());
        let sources = self.declared_sources(&e).or_else(|| match &columns.source {
            Some(SourceColumn::Fixed(s)) => Some(vec![s.clone()]),
            _ => None,
        });
        let on_error = self.on_error(&e);
        let max_pixels = self.max_pixels(&e);
        let manifest = manifest?;
        if image.is_none() || label.is_none() {
            return None;
        }
        Some(Dataset {
            origin,
            source: DatasetSource::Csv {
                manifest,
                images: e
                    .get("images")
                    .and_then(|i| self.one(i))
                    .and_then(|v| self.path(v, "the image folder")),
                columns,
                label_map,
                keep,
            },
            classes,
            sources,
            masks,
            on_error,
            max_pixels,
        })
    }
}
