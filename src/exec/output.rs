//! Claiming an output folder before a run writes into it: a folder that holds anything but a study's
//! output is never written into, and one run at a time writes into a study's folder (an exclusive lock on
//! `<out>/.lock`, which the kernel releases when the process ends, however it ends).

use super::error::CellError;
use crate::diagnostics::Code;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// What a run writes into its output folder before `study.json`. A folder holding only these is what a
/// run killed that early left behind; reports come later, so a folder with a `report.md` but no
/// `study.json` is somebody else's.
const EARLY_ENTRIES: &[&str] = &["plan.json", "cells", "work", "cache", "run.log", ".lock"];

/// The lock file's name inside the output folder.
const LOCK_FILE: &str = ".lock";

/// The claim on an output folder, held while it lives.
#[derive(Debug)]
pub struct OutputClaim {
    _file: File,
    _folder: File,
}

/// Claims `out` for a run: refuses a folder of other files, then takes the folder's lock or names the
/// process holding it.
pub fn claim(out: &Path) -> Result<OutputClaim, CellError> {
    if out.exists() && !out.is_dir() {
        return Err(CellError::fault(
            Code::WouldOverwrite,
            format!("--out {} is a file, not a folder", out.display()),
        )
        .help("name a new or empty folder with --out; the file was left as it is"));
    }
    refuse_foreign(out)?;
    std::fs::create_dir_all(out).map_err(|e| CellError::io(out, &e))?;
    // The folder itself is locked too: deleting `.lock` (a file anyone may remove) must not let a second
    // run in. `.lock` holds the holder's process id for the diagnostic.
    let folder = File::open(out).map_err(|e| CellError::io(out, &e))?;
    let path = out.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| CellError::io(&path, &e))?;
    let locked = folder.try_lock().and_then(|_| file.try_lock());
    match locked {
        Ok(()) => {
            // The holder's process id, for the diagnostic a second run prints.
            let written = file
                .set_len(0)
                .and_then(|_| file.rewind())
                .and_then(|_| write!(file, "{}", std::process::id()))
                .and_then(|_| file.flush());
            written.map_err(|e| CellError::io(&path, &e))?;
            Ok(OutputClaim {
                _file: file,
                _folder: folder,
            })
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "another process".to_string(),
                pid => format!("process {pid}"),
            };
            Err(CellError::fault(
                Code::OutputInUse,
                format!(
                    "{} is being written by another run ({holder})",
                    out.display()
                ),
            )
            .help("wait for that run to end, or run into another folder with --out"))
        }
        Err(TryLockError::Error(e)) => Err(CellError::io(&path, &e)),
    }
}

/// Refuses a folder that holds files no run wrote: a run would mix its outputs with them, or overwrite
/// a `report.md` of the user's.
fn refuse_foreign(out: &Path) -> Result<(), CellError> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(()); // absent: the run creates it
    };
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.iter().any(|n| n == "study.json") {
        return Ok(()); // a study's output; `Store::open` checks which study's
    }
    let mut foreign: Vec<&String> = names
        .iter()
        .filter(|n| !EARLY_ENTRIES.contains(&n.as_str()))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let shown: Vec<String> = foreign.iter().take(3).map(|n| format!("`{n}`")).collect();
    let more = match foreign.len() {
        n if n > 3 => format!(" and {} more", n - 3),
        _ => String::new(),
    };
    Err(CellError::fault(
        Code::OtherStudy,
        format!(
            "{} is not a study's output folder: it holds {}{more}",
            out.display(),
            shown.join(", ")
        ),
    )
    .help("choose an empty or new folder with --out; nothing was written into this one"))
}
