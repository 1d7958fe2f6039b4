//! CSV manifests: one row per image, columns mapped to roles by the study.

use super::metadata::{self, Row};
use super::{DataContext, ImageSource, Place, Problem, Record, Table, map_label};
use crate::diagnostics::Code;
use crate::study::{Columns, Dataset, DatasetMasks, DatasetSource, Field, OnError, SourceColumn};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Help for a file that is not there: which dataset to fetch.
pub fn download_help(dataset: &str) -> String {
    format!(
        "download the data of dataset `{dataset}` (docs/datasets.md says where) or correct the path"
    )
}

pub fn load(name: &str, dataset: &Dataset, ctx: &DataContext) -> Result<Table, Vec<Problem>> {
    let DatasetSource::Csv {
        manifest,
        images,
        columns,
        label_map,
        keep,
    } = &dataset.source
    else {
        unreachable!("manifest::load is called for csv datasets")
    };
    let path = ctx.resolve(manifest);
    // A manifest is a regular file (a pipe or a device would block or never end); 1 GiB at most.
    let bytes = crate::files::read_regular(&path, MAX_MANIFEST_BYTES).map_err(|e| {
        vec![
            Problem::new(
                Code::DataMissing,
                name,
                format!(
                    "cannot read manifest `{}`: {e}",
                    crate::source::display_path(&path)
                ),
                download_help(name),
            )
            .at(Place::File(path.clone())),
        ]
    })?;
    let image_root = match images {
        Some(dir) => ctx.resolve(dir),
        None => path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_string()).collect(),
        Err(e) => return Err(vec![csv_problem(name, &path, &bytes, &e)]),
    };
    let header_end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(bytes.len());
    let index = ColumnIndex::new(
        name,
        &path,
        &header,
        header_end,
        columns,
        keep.as_ref(),
        dataset,
    )?;
    let mask_root = match &dataset.masks {
        Some(DatasetMasks::Folder(dir)) => Some(ctx.resolve(dir)),
        _ => None,
    };
    let mut table = Table::default();
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    // However many rows are wrong, a few are told and the rest counted (a million repeated rows must not
    // become a million messages).
    let mut problems = Capped::new(50);
    let mut skipped = Capped::new(1000);
    for result in reader.records() {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                problems.push(csv_problem(name, &path, &bytes, &e));
                break;
            }
        };
        let (start, line) = row_start(&bytes, record.position());
        let spans = field_ranges(&bytes, start);
        let cell = |i: usize| -> Place {
            let (s, e) = spans.get(i).copied().unwrap_or((start, start));
            Place::Text {
                file: path.clone(),
                start: s,
                end: e.max(s + 1),
            }
        };
        let row = CsvRow {
            record: &record,
            index: &index,
        };
        if let Some(filter) = keep
            && !metadata::keep(filter, &row)
        {
            table.filtered += 1;
            continue;
        }
        match read_row(
            name,
            &record,
            &header,
            &index,
            &image_root,
            mask_root.as_deref(),
            label_map.as_ref(),
            &cell,
        ) {
            Ok(None) => table.dropped += 1,
            Ok(Some(r)) => {
                let ImageSource::File(file) = &r.image else {
                    unreachable!("manifest images are files")
                };
                if let Some(first_line) = seen.insert(file.clone(), line as usize) {
                    problems.push(
                        Problem::new(
                            Code::DuplicateImage,
                            name,
                            format!(
                                "image `{}` is listed again (first on line {first_line})",
                                r.id
                            ),
                            "remove the repeated row",
                        )
                        .at(cell(index.image)),
                    );
                    continue;
                }
                if !file.is_file() {
                    let p = Problem::new(
                        Code::DataMissing,
                        name,
                        format!(
                            "image `{}` {}",
                            crate::source::display_path(file),
                            crate::files::why_unusable(file, false)
                        ),
                        download_help(name),
                    )
                    .at(cell(index.image));
                    match dataset.on_error {
                        OnError::Skip => skipped.push(p),
                        OnError::Fail => problems.push(p),
                    }
                    continue;
                }
                table.records.push(r);
            }
            Err(p) => match dataset.on_error {
                OnError::Skip => skipped.push(p),
                OnError::Fail => problems.push(p),
            },
        }
    }
    let place = Place::File(path.clone());
    table.skipped = skipped.finish(name, "row(s) left out", &place);
    let problems = problems.finish(name, "row(s) with problems", &place);
    if problems.is_empty() {
        Ok(table)
    } else {
        Err(problems)
    }
}

/// Problems kept up to a limit, the rest counted by their code.
struct Capped {
    items: Vec<Problem>,
    limit: usize,
    more: IndexMap<Code, usize>,
}

impl Capped {
    fn new(limit: usize) -> Capped {
        Capped {
            items: Vec::new(),
            limit,
            more: IndexMap::new(),
        }
    }

    fn push(&mut self, p: Problem) {
        if self.items.len() < self.limit {
            self.items.push(p);
        } else {
            *self.more.entry(p.code).or_default() += 1;
        }
    }

    /// The problems kept, then one per code counted beyond the limit (`and 999,950 more row(s) with
    /// problems (E0047: image listed twice)`).
    fn finish(mut self, dataset: &str, what: &str, place: &Place) -> Vec<Problem> {
        for (code, n) in self.more {
            self.items.push(
                Problem::new(
                    code,
                    dataset,
                    format!(
                        "and {} more {what} ({}: {})",
                        thousands(n),
                        code.id(),
                        code.title()
                    ),
                    "the first ones are listed above; fix those and run again to see what remains",
                )
                .at(place.clone()),
            );
        }
        self.items
    }
}

/// `999999` as `999,999`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The largest manifest read (ten million rows of a hundred bytes).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// Whether diagnostics may quote a manifest's text: only a `.csv` or `.tsv` file's, never an arbitrary
/// file's lines.
pub fn quotable(path: &Path) -> bool {
    path.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| x.eq_ignore_ascii_case("csv") || x.eq_ignore_ascii_case("tsv"))
}

/// Positions of the mapped columns in the header.
struct ColumnIndex {
    image: usize,
    label: usize,
    source: Option<usize>,
    fixed_source: Option<String>,
    patient: Option<usize>,
    age: Option<usize>,
    sex: Option<usize>,
    view: Option<usize>,
    mask: Option<usize>,
    extra: IndexMap<String, usize>,
    /// Every header name → position, for raw-column filters.
    all: HashMap<String, usize>,
    /// Role or meta name → position.
    roles: HashMap<String, usize>,
}

impl ColumnIndex {
    fn new(
        name: &str,
        path: &Path,
        header: &[String],
        header_end: usize,
        columns: &Columns,
        keep: Option<&crate::study::Filter>,
        dataset: &Dataset,
    ) -> Result<Self, Vec<Problem>> {
        let all: HashMap<String, usize> = header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect();
        let mut problems = Vec::new();
        let mut find = |column: &str, role: &str| -> Option<usize> {
            let found = all.get(column).copied();
            if found.is_none() {
                let suggestion =
                    crate::diagnostics::suggest(column, header.iter().map(String::as_str));
                let help = match suggestion {
                    _ if !quotable(path) => format!(
                        "`{}` is not a .csv file, so its header is not shown; name the manifest's {role} column",
                        crate::source::display_path(path)
                    ),
                    Some(s) => format!("did you mean `{s}`? (the {role} column)"),
                    None => format!("the header has: {}", header.join(", ")),
                };
                problems.push(
                    Problem::new(
                        Code::MissingColumn,
                        name,
                        format!("the manifest has no column \"{column}\" (mapped to {role})"),
                        help,
                    )
                    .at(Place::Text {
                        file: path.to_path_buf(),
                        start: 0,
                        end: header_end.max(1),
                    }),
                );
            }
            found
        };
        let image = find(&columns.image, "image");
        let label = find(&columns.label, "label");
        let (source, fixed_source) = match &columns.source {
            Some(SourceColumn::Column(c)) => (find(c, "source"), None),
            Some(SourceColumn::Fixed(s)) => (None, Some(s.clone())),
            None => (None, Some(name.to_string())),
        };
        let mut optional = |c: &Option<String>, role: &str| c.as_ref().and_then(|c| find(c, role));
        let patient = optional(&columns.patient, "patient");
        let age = optional(&columns.age, "age");
        let sex = optional(&columns.sex, "sex");
        let view = optional(&columns.view, "view");
        let mask = match &dataset.masks {
            Some(DatasetMasks::Column(c)) => find(c, "mask"),
            _ => None,
        };
        let mut extra = IndexMap::new();
        for (meta, column) in &columns.extra {
            if let Some(i) = find(column, meta) {
                extra.insert(meta.clone(), i);
            }
        }
        let mut roles: HashMap<String, usize> = HashMap::new();
        for (role, i) in [
            ("image", image),
            ("label", label),
            ("source", source),
            ("patient", patient),
            ("age", age),
            ("sex", sex),
            ("view", view),
        ] {
            if let Some(i) = i {
                roles.insert(role.to_string(), i);
            }
        }
        roles.extend(extra.iter().map(|(k, v)| (k.clone(), *v)));
        // Filters may name raw columns, or roles that are not mapped but exist as columns.
        let mut fields = Vec::new();
        if let Some(f) = keep {
            filter_fields(f, &mut fields);
        }
        for field in fields {
            let (column, known) = match &field {
                Field::Role(r) => (
                    r.clone(),
                    roles.contains_key(r)
                        || all.contains_key(r)
                        || (r == "source" && fixed_source.is_some()),
                ),
                Field::Column(c) => (c.clone(), all.contains_key(c)),
            };
            if !known {
                find(&column, "a `keep` filter");
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ColumnIndex {
            image: image.unwrap_or(0),
            label: label.unwrap_or(0),
            source,
            fixed_source,
            patient,
            age,
            sex,
            view,
            mask,
            extra,
            all,
            roles,
        })
    }
}

fn filter_fields(f: &crate::study::Filter, out: &mut Vec<Field>) {
    use crate::study::Filter::*;
    match f {
        And(parts) | Or(parts) => parts.iter().for_each(|p| filter_fields(p, out)),
        Not(inner) => filter_fields(inner, out),
        Compare { field, .. } | In { field, .. } | Missing { field, .. } => out.push(field.clone()),
    }
}

struct CsvRow<'a> {
    record: &'a csv::StringRecord,
    index: &'a ColumnIndex,
}

impl Row for CsvRow<'_> {
    fn field(&self, field: &Field) -> Option<String> {
        let i = match field {
            Field::Role(r) if r == "source" && self.index.source.is_none() => {
                return self.index.fixed_source.clone();
            }
            Field::Role(r) => self.index.roles.get(r).or_else(|| self.index.all.get(r)),
            Field::Column(c) => self.index.all.get(c),
        }?;
        let v = self.record.get(*i)?;
        (!metadata::is_missing(v)).then(|| v.trim().to_string())
    }
}

#[allow(clippy::too_many_arguments)]
fn read_row(
    name: &str,
    record: &csv::StringRecord,
    header: &[String],
    index: &ColumnIndex,
    image_root: &Path,
    mask_root: Option<&Path>,
    label_map: Option<&crate::study::LabelMap>,
    cell: &dyn Fn(usize) -> Place,
) -> Result<Option<Record>, Problem> {
    let get = |i: usize| record.get(i).unwrap_or("").trim();
    let bad = |i: usize, message: String, help: &str| {
        Problem::new(Code::BadValue, name, message, help).at(cell(i))
    };
    let Some(label) = map_label(label_map, get(index.label)).map_err(|m| {
        bad(
            index.label,
            m.to_string(),
            "extend the label map, or add `* => other` or `* => drop`",
        )
    })?
    else {
        return Ok(None);
    };
    let image_rel = get(index.image);
    if image_rel.is_empty() {
        return Err(bad(
            index.image,
            "the image path is empty".into(),
            "every row needs an image path",
        ));
    }
    let age = match index.age {
        Some(i) => metadata::parse_age(get(i)).map_err(|m| {
            bad(
                i,
                m.to_string(),
                "fix the value, or filter the row out with `keep age is not missing`",
            )
        })?,
        None => None,
    };
    let source = match index.source {
        Some(i) if metadata::is_missing(get(i)) => {
            return Err(bad(
                i,
                "the source is empty".into(),
                "every row needs a source",
            ));
        }
        Some(i) => get(i).to_string(),
        None => index
            .fixed_source
            .clone()
            .unwrap_or_else(|| name.to_string()),
    };
    let optional = |i: Option<usize>| {
        i.map(get)
            .filter(|v| !metadata::is_missing(v))
            .map(str::to_string)
    };
    let mask = match (index.mask, mask_root) {
        (Some(i), _) => optional(Some(i)).map(|m| ImageSource::File(image_root.join(m))),
        (None, Some(dir)) => Some(ImageSource::File(dir.join(image_rel))),
        _ => None,
    };
    // Mapped metadata under its study name; every raw column as `column:<header>` for column splits
    // and groups.
    let mut extra: IndexMap<String, String> = index
        .extra
        .iter()
        .filter_map(|(k, i)| optional(Some(*i)).map(|v| (k.clone(), v)))
        .collect();
    for (i, h) in header.iter().enumerate() {
        if let Some(v) = optional(Some(i)) {
            extra.insert(format!("column:{h}"), v);
        }
    }
    Ok(Some(Record {
        id: image_rel.to_string(),
        dataset: name.to_string(),
        image: ImageSource::File(image_root.join(image_rel)),
        mask,
        label,
        source,
        patient: optional(index.patient),
        age,
        sex: index.sex.and_then(|i| metadata::parse_sex(get(i))),
        view: index.view.and_then(|i| metadata::normalize_view(get(i))),
        extra,
    }))
}

/// Where a row begins and its line number. The csv reader ends a CRLF row at its `\r`, so the position it
/// gives for the next row is that row's `\n`: skipped, and the line counted.
fn row_start(bytes: &[u8], position: Option<&csv::Position>) -> (usize, u64) {
    let Some(p) = position else {
        return (0, 1);
    };
    let (start, line) = (p.byte() as usize, p.line());
    match bytes.get(start) {
        Some(b'\n') => (start + 1, line + 1),
        _ => (start, line),
    }
}

fn csv_problem(name: &str, path: &Path, bytes: &[u8], e: &csv::Error) -> Problem {
    let (start, line) = match e.position() {
        Some(p) => row_start(bytes, Some(p)),
        None => (0, 1),
    };
    let end = bytes[start.min(bytes.len())..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |i| start + i);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("row {line} has {len} fields, the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => format!("row {line} is not valid UTF-8"),
        _ => format!("row {line} cannot be read: {e}"),
    };
    Problem::new(
        Code::CsvMalformed,
        name,
        message,
        "fix the row: quote fields that contain commas, and keep one field per header column",
    )
    .at(Place::Text {
        file: path.to_path_buf(),
        start,
        end: end.max(start + 1),
    })
}

/// Byte ranges of the fields of the CSV record starting at `start` (quote-aware, to the end of the line).
fn field_ranges(bytes: &[u8], start: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = start;
    let mut field_start = start;
    let mut quoted = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push((field_start, i));
                field_start = i + 1;
            }
            b'\n' | b'\r' if !quoted => break,
            _ => {}
        }
        i += 1;
    }
    out.push((field_start, i));
    out
}

#[cfg(test)]
mod tests {
    use super::field_ranges;

    #[test]
    fn field_ranges_respect_quotes() {
        let text = b"a,\"b,c\",d\nnext";
        assert_eq!(field_ranges(text, 0), vec![(0, 1), (2, 7), (8, 9)]);
    }
}
