//! Datasets read from folders (one folder per label, or per source and label).

use crate::check::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::study::*;
use crate::syntax::ast::{self, Decl};

pub(in crate::check) const FOLDER_ENTRIES: &[&str] = &[
    "layout",
    "label",
    "sources",
    "classes",
    "masks",
    "on_error",
    "max_pixels",
];

impl Checker<'_> {
    pub(in crate::check) fn folder_dataset(
        &mut self,
        decl: &Decl,
        call: Option<&ast::Call>,
        owner: &str,
        origin: Origin,
        dicom: bool,
    ) -> Option<Dataset> {
        let root = self.path_argument(decl, call, if dicom { "dicom" } else { "folders" });
        let e = self.block_entries(decl, owner, FOLDER_ENTRIES);
        let layout = match e.get("layout").and_then(|l| self.one(l)).map(|v| {
            self.choice(
                v,
                "folder layout",
                &["class_per_folder", "source_then_class"],
            )
        }) {
            Some(Some(l)) if l == "source_then_class" => FolderLayout::SourceThenClass,
            Some(None) => return None,
            _ => FolderLayout::ClassPerFolder,
        };
        let label_map = match e.get("label") {
            Some(l) => match &l.block {
                Some(b) if l.values.is_empty() => self.label_map(b),
                _ => {
                    self.error(
                        Diagnostic::new(
                            Code::WrongType,
                            "`label` of a folder dataset maps folder names to classes",
                        )
                        .at(l.span, "expected `label { \"folder\" => class }`"),
                    );
                    None
                }
            },
            None => None,
        };
        let classes = self.declared_classes(&e, label_map.as_ref());
        let sources = self.declared_sources(&e);
        let masks = e
            .get("masks")
            .and_then(|m| self.one(m))
            .and_then(|v| self.path(v, "the mask folder"))
            .map(DatasetMasks::Folder);
        let on_error = self.on_error(&e);
        let max_pixels = self.max_pixels(&e);
        let root = root?;
        let source = if dicom {
            DatasetSource::Dicom {
                root,
                layout,
                label_map,
            }
        } else {
            DatasetSource::Folders {
                root,
                layout,
                label_map,
            }
        };
        Some(Dataset {
            origin,
            source,
            classes,
            sources,
            masks,
            on_error,
            max_pixels,
        })
    }
}
