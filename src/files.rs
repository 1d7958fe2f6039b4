//! Writing a file so that it is either absent or complete, and telling a full disk from other write
//! failures. A leaf: every stage that writes files may use it.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to a temporary file beside `path`, flushed to disk, then renamed over `path`; the
/// temporary file is removed when anything fails.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map_or("file".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A point where a test may stop the process as `kill -9` would: it aborts when `STUDY_CRASH_AT` names
/// `point` (`checkpoint 3 model.bin`: after epoch 3's checkpoint wrote its model). A no-op otherwise.
pub fn crash_point(point: &str) {
    if std::env::var_os("STUDY_CRASH_AT").is_some_and(|v| v == point) {
        std::process::abort();
    }
}

/// Publishes files into `dir` together or not at all. `entries` are paths relative to `dir` (`/` between
/// folders: `figures/a.svg`) with their bytes. Every one is written and flushed into a staging folder
/// first; only then are the entries of `dir` named in `replaced` removed and the staged ones renamed into
/// place (renames take no space). A write that fails leaves `dir` as it was and no staging folder. A
/// `dir` that does not exist yet is staged beside it and appears with one rename. The error names the
/// path where it happened.
pub fn publish_together(
    dir: &Path,
    entries: &[(String, Vec<u8>)],
    replaced: &[&str],
) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let fresh = !dir.exists();
    let name = dir
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy());
    let staging = match fresh {
        true => dir.with_file_name(format!(".{name}.publish-{}", std::process::id())),
        false => dir.join(format!(".publish-{}", std::process::id())),
    };
    let at = |p: &Path| {
        let p = p.to_path_buf();
        move |e| (p, e)
    };
    let _ = std::fs::remove_dir_all(&staging);
    let staged = (|| {
        std::fs::create_dir_all(&staging).map_err(at(&staging))?;
        for (relative, bytes) in entries {
            let path = staging.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(at(parent))?;
            }
            let mut f = std::fs::File::create(&path).map_err(at(&path))?;
            f.write_all(bytes).map_err(at(&path))?;
            f.sync_all().map_err(at(&path))?;
        }
        Ok(())
    })();
    if staged.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
        return staged;
    }
    if fresh {
        return std::fs::rename(&staging, dir).map_err(at(dir));
    }
    for name in replaced {
        let path = dir.join(name);
        let gone = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(_) => Ok(()),
        };
        gone.map_err(at(&path))?;
    }
    let mut tops: Vec<&str> = entries
        .iter()
        .filter_map(|(relative, _)| relative.split('/').next())
        .collect();
    tops.sort();
    tops.dedup();
    for top in tops {
        std::fs::rename(staging.join(top), dir.join(top)).map_err(at(&dir.join(top)))?;
    }
    std::fs::remove_dir_all(&staging).map_err(at(&staging))
}

/// Whether a write failed because the disk, or the user's quota on it, is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Why a file could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A pipe, a device, a socket or a folder: never opened for reading (a pipe blocks, a device never ends).
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    /// Larger than the limit (`size` in bytes as the file reports it, or at least the limit plus one).
    #[error("it is {size} bytes, over the limit of {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Opens a regular file for reading; a pipe, a device, a socket or a folder is refused before it is opened.
pub fn open_regular(path: &Path) -> Result<std::fs::File, ReadError> {
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(special_kind(&kind)));
    }
    Ok(std::fs::File::open(path)?)
}

/// Reads a regular file of at most `limit` bytes. Anything else is refused before it is read, and no more
/// than `limit + 1` bytes are ever read (a file that grows while it is read is still caught).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let file = open_regular(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a folder"
    } else {
        "a special file"
    }
}

/// Why `path`, named as a file (or, with `folder`, as a folder), cannot be used as one: a loop of
/// symbolic links, a link to nothing, the other kind of entry, or nothing there.
pub fn why_unusable(path: &Path, folder: bool) -> &'static str {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() && !folder => "is a folder, not a file",
        Ok(m) if !m.is_dir() && folder => "is a file, not a folder",
        Ok(_) => "cannot be read",
        Err(e) if is_link_loop(&e) => "is a loop of symbolic links",
        Err(_) if std::fs::symlink_metadata(path).is_ok() => {
            "is a symbolic link to something that does not exist"
        }
        Err(_) => "does not exist",
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn is_link_loop(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn is_link_loop(_: &std::io::Error) -> bool {
    false
}
