//! Stage 1, parse: study text → `Ast`. Reads the root file and every file it includes, each once.

pub mod ast;
mod errors;
pub mod format;
mod grammar;
mod lexical;
mod parser;

pub use ast::Ast;
pub use parser::parse_file;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, Reach, SourceMap, Span, display_path, inside};
use std::path::{Path, PathBuf};

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The result of reading a study: every file's text, the trees that parsed, and what went wrong.
pub struct Parsed {
    pub sources: SourceMap,
    pub ast: Ast,
    pub diagnostics: Diagnostics,
}

/// Reads and parses a study file and everything it includes (only from its folder tree, unless `reach`
/// allows anywhere).
pub fn parse_path(path: &Path, reach: Reach) -> Parsed {
    let mut loader = Loader {
        reach,
        ..Loader::default()
    };
    match read_study_file(path) {
        Ok(bytes) => {
            let name = path.display().to_string();
            loader.load_bytes(name, Some(path.to_path_buf()), bytes);
        }
        Err((code, why)) => {
            let id = loader.sources.add(
                path.display().to_string(),
                Some(path.to_path_buf()),
                String::new(),
            );
            loader.diagnostics.push(
                Diagnostic::new(code, format!("cannot read `{}`: {why}", path.display()))
                    .at(Span::new(id, 0, 0), "")
                    .help(
                        "check the path; study files are given relative to the current directory",
                    ),
            );
        }
    }
    loader.finish()
}

/// Parses study bytes held in memory (any bytes: invalid UTF-8 is a diagnostic); includes are resolved
/// relative to `dir`.
pub fn parse_bytes(name: &str, bytes: &[u8], dir: Option<&Path>, reach: Reach) -> Parsed {
    let mut loader = Loader {
        reach,
        ..Loader::default()
    };
    let path = dir.map(|d| d.join(name));
    loader.load_bytes(name.to_string(), path, bytes.to_vec());
    loader.finish()
}

/// E0035: a path that leaves the study's folder tree, refused unless `--allow-outside` is given.
/// `full` is the path as it is opened (to tell a symbolic link that leads out).
pub fn outside_study(span: Span, written: &str, full: &Path, root: &Path) -> Diagnostic {
    let through = match crate::source::inside_as_written(full, root) {
        true => " through a symbolic link",
        false => "",
    };
    let root = match display_path(root) {
        r if r.is_empty() => ".".to_string(),
        r => r,
    };
    Diagnostic::new(
        Code::OutsideStudy,
        format!("`{written}` is outside the study's folder `{root}`{through}"),
    )
    .at(span, "this path leaves the study's folder")
    .help("keep the study's files under its folder, or run with --allow-outside to let the study use this path")
}

/// A study file's bytes: a regular file of at most `MAX_FILE_BYTES` (a pipe or a device is never read), or
/// the code and reason it cannot be used.
fn read_study_file(path: &Path) -> Result<Vec<u8>, (Code, String)> {
    use crate::files::{ReadError, read_regular};
    read_regular(path, MAX_FILE_BYTES as u64).map_err(|e| match e {
        ReadError::TooLarge { size, .. } => (
            Code::TooLarge,
            format!("it is {} MiB; the limit is 16 MiB", size >> 20),
        ),
        ReadError::Io(e) => (Code::Unreadable, io_reason(&e)),
        other => (Code::Unreadable, other.to_string()),
    })
}

/// The text of a UTF-16 file (as some Windows editors save): one with a UTF-16 byte order mark, or whose
/// first bytes are all ASCII characters each paired with a zero byte.
fn utf16_text(bytes: &[u8]) -> Option<String> {
    let units = |big_endian: bool, b: &[u8]| -> Vec<u16> {
        b.chunks_exact(2)
            .map(|p| {
                if big_endian {
                    u16::from_be_bytes([p[0], p[1]])
                } else {
                    u16::from_le_bytes([p[0], p[1]])
                }
            })
            .collect()
    };
    let head = &bytes[..bytes.len().min(512) & !1];
    let zeros_at = |parity: usize| {
        head.iter()
            .skip(parity)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let pairs = head.len() / 2;
    let big_endian = match bytes {
        [0xff, 0xfe, ..] => false,
        [0xfe, 0xff, ..] => true,
        // Without a byte order mark, only when every unit of the head is ASCII with a zero byte: UTF-8
        // text with some NULs in it (in a comment, say) is UTF-8.
        _ if pairs >= 2 && zeros_at(1) == pairs && zeros_at(0) == 0 => false,
        _ if pairs >= 2 && zeros_at(0) == pairs && zeros_at(1) == 0 => true,
        _ => return None,
    };
    let units = units(big_endian, bytes);
    Some(
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .filter(|c| *c != '\u{feff}')
            .collect(),
    )
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "it is a directory".into(),
        _ => e.to_string(),
    }
}

#[derive(Default)]
struct Loader {
    sources: SourceMap,
    ast: Ast,
    diagnostics: Diagnostics,
    /// Canonical paths of files already loaded, with their ids.
    loaded: Vec<(PathBuf, FileId)>,
    /// Includes being followed, outermost first: (canonical path of the includer, include span).
    stack: Vec<(PathBuf, Span)>,
    reach: Reach,
    /// The folder of the root file: includes stay inside it unless `reach` is `Anywhere`.
    root: Option<PathBuf>,
}

impl Loader {
    fn finish(self) -> Parsed {
        Parsed {
            sources: self.sources,
            ast: self.ast,
            diagnostics: self.diagnostics,
        }
    }

    /// Adds one file's bytes, parses them and follows their includes. Returns the file's id.
    fn load_bytes(&mut self, name: String, path: Option<PathBuf>, bytes: Vec<u8>) -> FileId {
        if let Some(text) = utf16_text(&bytes) {
            // Shown decoded, so the quote under the diagnostic reads as the file does in its editor.
            let id = self.sources.add(name, path, text);
            self.diagnostics.push(
                Diagnostic::new(Code::NotUtf8, "file is UTF-16 text, not UTF-8")
                    .at(Span::new(id, 0, 0), "this file is UTF-16")
                    .help(
                        "save the file as UTF-8 (in most editors: Save As, then Encoding: UTF-8)",
                    ),
            );
            return id;
        }
        let (text, utf8_error) = match String::from_utf8(bytes) {
            Ok(t) => (t, None),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(at))
            }
        };
        let size = text.len();
        let id = self.sources.add(name, path.clone(), text);
        if self.root.is_none() {
            self.root = Some(self.sources.get(id).dir());
        }
        if let Some(canonical) = path.as_ref().and_then(|p| p.canonicalize().ok()) {
            self.loaded.push((canonical, id));
        }
        if size > MAX_FILE_BYTES {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::TooLarge,
                    format!("file is {} MiB; the limit is 16 MiB", size >> 20),
                )
                .at(Span::new(id, 0, 0), "")
                .help("keep data in manifests and refer to them by path"),
            );
            return id;
        }
        if let Some(at) = utf8_error {
            // Report the first invalid byte; the lossy text lets the label show where it is.
            let span = Span::new(id, at, at + '\u{FFFD}'.len_utf8());
            self.diagnostics.push(
                Diagnostic::new(Code::NotUtf8, "file is not valid UTF-8")
                    .at(span, "this byte is not UTF-8")
                    .help("save the file as UTF-8 text"),
            );
            return id;
        }
        let text = self.sources.get(id).text.clone();
        let mut file = match parse_file(id, &text) {
            Ok(file) => file,
            Err(errors) => {
                errors.into_iter().for_each(|d| self.diagnostics.push(d));
                return id;
            }
        };
        self.follow_includes(&mut file);
        // Files are kept root first; included files were pushed while following, so insert this one
        // before them to keep the root at index 0.
        let position = self
            .ast
            .files
            .iter()
            .position(|f| f.id > id)
            .unwrap_or(self.ast.files.len());
        self.ast.files.insert(position, file);
        id
    }

    fn follow_includes(&mut self, file: &mut ast::File) {
        let dir = self.sources.get(file.id).dir();
        let includer = self
            .sources
            .get(file.id)
            .path
            .as_ref()
            .and_then(|p| p.canonicalize().ok());
        for item in &mut file.items {
            let ast::Item::Include(include) = item else {
                continue;
            };
            let relative = Path::new(&include.path.value);
            let path = if relative.is_absolute() {
                relative.to_path_buf()
            } else {
                dir.join(relative)
            };
            if path.extension().is_none_or(|x| x != "study") {
                // Never read, so that no other file's text is shown in a diagnostic.
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::Unreadable,
                        format!("cannot include `{}`: it is not a .study file", include.path.value),
                    )
                    .at(include.path.span, "not read")
                    .help("only study files (ending in .study) can be included; data files are named by datasets"),
                );
                continue;
            }
            let root = self.root.clone().unwrap_or_default();
            if self.reach == Reach::StudyTree && !inside(&path, &root) {
                self.diagnostics.push(outside_study(
                    include.path.span,
                    &include.path.value,
                    &path,
                    &root,
                ));
                continue;
            }
            let canonical = path.canonicalize().ok();
            if let Some(canonical) = &canonical {
                let in_cycle = includer.as_ref() == Some(canonical)
                    || self.stack.iter().any(|(p, _)| p == canonical);
                if in_cycle {
                    let mut d = Diagnostic::new(
                        Code::IncludeCycle,
                        format!(
                            "`{}` includes itself through this chain",
                            include.path.value
                        ),
                    )
                    .at(include.path.span, "this include closes the cycle");
                    for (_, span) in self.stack.iter().rev() {
                        d = d.also(*span, "included from here");
                    }
                    self.diagnostics
                        .push(d.help("move shared declarations into a file that includes nothing"));
                    continue;
                }
                if let Some((_, id)) = self.loaded.iter().find(|(p, _)| p == canonical) {
                    include.target = Some(*id);
                    continue;
                }
            }
            match read_study_file(&path) {
                Ok(bytes) => {
                    self.stack
                        .push((includer.clone().unwrap_or_default(), include.path.span));
                    let name = display_path(&path);
                    include.target = Some(self.load_bytes(name, Some(path.clone()), bytes));
                    self.stack.pop();
                }
                Err((code, why)) => self.unreadable(include, &path, code, &why),
            }
        }
    }

    fn unreadable(&mut self, include: &ast::Include, path: &Path, code: Code, reason: &str) {
        self.diagnostics.push(
            Diagnostic::new(
                code,
                format!("cannot include `{}`: {reason}", include.path.value),
            )
            .at(
                include.path.span,
                format!("resolved to `{}`", display_path(path)),
            )
            .help("include paths are relative to the file that contains the include"),
        );
    }
}
