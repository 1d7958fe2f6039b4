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

/// Whether a write failed because the disk, or the user's quota on it, is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
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
