//! Source files and byte spans. Every node before `Study` carries a `Span` into a file of the `SourceMap`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Index of a file in the `SourceMap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId(pub u32);

/// A byte range `start..end` in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }

    /// The smallest span that covers both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span::new(
            self.file,
            self.start.min(other.start),
            self.end.max(other.end),
        )
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when `other` lies within this span.
    pub fn contains(&self, other: Span) -> bool {
        self.file == other.file && self.start <= other.start && other.end <= self.end
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// One loaded source file.
#[derive(Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics (the path as the user gave it, or as an include resolved it).
    pub name: String,
    /// Where the file was read from; `None` for in-memory sources.
    pub path: Option<PathBuf>,
    pub text: String,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
    /// Whether the text is all ASCII: columns are then byte differences, found without a scan.
    ascii: bool,
    /// The text with each lone `\r` (an old Mac line ending) turned into `\n`, byte for byte, for the
    /// quotes under diagnostics; `None` when the text has none.
    quoted: Option<String>,
}

impl SourceFile {
    pub fn new(name: String, path: Option<PathBuf>, text: String) -> Self {
        // A line ends at `\n`, `\r\n` or a lone `\r`, as in the grammar.
        let bytes = text.as_bytes();
        let lone_cr = |i: usize| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
        let line_starts = std::iter::once(0)
            .chain(
                (0..bytes.len())
                    .filter(|i| bytes[*i] == b'\n' || lone_cr(*i))
                    .map(|i| i + 1),
            )
            .collect();
        let quoted = (0..bytes.len()).any(lone_cr).then(|| {
            let b: Vec<u8> = (0..bytes.len())
                .map(|i| if lone_cr(i) { b'\n' } else { bytes[i] })
                .collect();
            String::from_utf8(b).expect("a byte for a byte of ASCII keeps UTF-8")
        });
        SourceFile {
            name,
            path,
            ascii: text.is_ascii(),
            quoted,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_starts.partition_point(|start| *start <= offset);
        let line_start = self.line_starts[line - 1];
        let col = if self.ascii {
            offset - line_start + 1
        } else {
            self.text[line_start..offset].chars().count() + 1
        };
        (line, col)
    }

    /// The whole lines around bytes `start..end`, with `extra` more lines on each side: (first byte, end
    /// byte, 0-based number of the first line). Found by binary search, so quoting a line costs
    /// O(log lines), not a scan of the file.
    pub fn lines_around(&self, start: usize, end: usize, extra: usize) -> (usize, usize, usize) {
        let line_of = |offset: usize| {
            self.line_starts
                .partition_point(|s| *s <= offset.min(self.text.len()))
                - 1
        };
        let first = line_of(start).saturating_sub(extra);
        let last = line_of(end).saturating_add(extra);
        let end_byte = self
            .line_starts
            .get(last + 1)
            .copied()
            .unwrap_or(self.text.len());
        (self.line_starts[first], end_byte, first)
    }

    /// The text as quoted under diagnostics: every line ending seen as one by the quoting.
    pub fn quoted_text(&self) -> &str {
        self.quoted.as_deref().unwrap_or(&self.text)
    }

    /// Directory against which paths written in this file are resolved.
    pub fn dir(&self) -> PathBuf {
        self.path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// All files that took part in reading one study (the root file first, then includes).
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: impl Into<String>, path: Option<PathBuf>, text: String) -> FileId {
        self.files.push(SourceFile::new(name.into(), path, text));
        FileId((self.files.len() - 1) as u32)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    /// Text under a span.
    pub fn snippet(&self, span: Span) -> &str {
        let text = &self.get(span.file).text;
        text.get(span.start..span.end).unwrap_or("")
    }

    /// `file:line:col` of a span's start, for messages that are not rendered with a snippet.
    pub fn location(&self, span: Span) -> String {
        let file = self.get(span.file);
        let (line, col) = file.line_col(span.start);
        format!("{}:{line}:{col}", file.name)
    }
}

/// A path as shown to users: lexically normalised, with `/` separators.
pub fn display_path(path: &Path) -> String {
    normalize(path).to_string_lossy().replace('\\', "/")
}

/// The folder relative data paths of a study file start from: the file's own.
pub fn study_root(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The lock file of a study: `<stem>.lock` beside it.
pub fn lock_path(file: &Path) -> PathBuf {
    file.with_extension("lock")
}

/// Removes `.` and resolves `..` lexically, without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last = out.components().next_back();
                if matches!(last, Some(Component::Normal(_))) {
                    out.pop();
                } else if !matches!(last, Some(Component::RootDir | Component::Prefix(_))) {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Which files a study may name. By default only those inside its own folder tree (the folder of the root
/// study file and below) for what it reads, includes and writes; `--allow-outside` lifts that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reach {
    #[default]
    StudyTree,
    Anywhere,
}

/// Whether `path` lies inside the folder `root`: as written (after resolving `.` and `..`; relative paths
/// start from the current directory) and, where it exists, after resolving symbolic links, so that a link
/// inside the folder to a file outside it is outside.
pub fn inside(path: &Path, root: &Path) -> bool {
    inside_as_written(path, root) && !links_outside(path, root)
}

/// Whether `path` lies inside `root` as written (lexically, links not followed).
pub fn inside_as_written(path: &Path, root: &Path) -> bool {
    let absolute = |p: &Path| {
        if p.is_absolute() {
            normalize(p)
        } else {
            normalize(&std::env::current_dir().unwrap_or_default().join(p))
        }
    };
    absolute(path).starts_with(absolute(root))
}

/// Whether `path` exists and resolves, through symbolic links, to somewhere outside what `root` resolves to.
pub fn links_outside(path: &Path, root: &Path) -> bool {
    match (path.canonicalize(), root.canonicalize()) {
        (Ok(p), Ok(r)) => !p.starts_with(r),
        _ => false,
    }
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on a character boundary: how user text
/// is shortened for a message (never cutting a character in two).
pub fn clip(text: &str, max_bytes: usize) -> &str {
    &text[..text.floor_char_boundary(max_bytes.min(text.len()))]
}
