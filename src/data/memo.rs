//! The file-hash memo: what the image cache and input binding use to recognise unchanged files.

/// The largest memo read (about 150 bytes a file: a million files).
const MAX_MEMO_BYTES: u64 = 256 << 20;

/// Content hashes of files, remembered by (path, length, modification time), so that recognising an
/// unchanged file costs a stat and not a read; a file whose length or time moved is hashed anew.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct HashMemo {
    files: std::collections::HashMap<String, Stamped>,
}

/// A file's length, modification time (ns) and content hash.
type Stamped = (u64, u128, String);

/// A file's length and modification time (ns).
pub type Stamp = (u64, u128);

/// A hash the memo did not hold yet: the key and stamped hash to remember.
pub type Learned = (String, Stamped);

impl HashMemo {
    /// The memo kept at `path`; an empty one when there is none or it cannot be read.
    pub fn load(path: &std::path::Path) -> HashMemo {
        crate::files::read_regular(path, MAX_MEMO_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The remembered hash when the file is unchanged, else the hash of its bytes (and what to remember),
    /// with the length and modification time the file had before it was read (to tell later whether it
    /// moved); `None` when the file cannot be read.
    pub fn hash(&self, path: &std::path::Path) -> Option<(String, Stamp, Option<Learned>)> {
        let key = path.to_string_lossy().into_owned();
        let stamp = crate::hash::file_stamp(path)?;
        if let Some((len, modified, hash)) = self.files.get(&key)
            && (*len, *modified) == stamp
        {
            return Some((hash.clone(), stamp, None));
        }
        let hash = crate::hash::file_hash(path)?;
        let learned = (key, (stamp.0, stamp.1, hash.clone()));
        Some((hash, stamp, Some(learned)))
    }

    /// Remembers newly computed hashes and keeps the memo at `path` when there were any. A memo that
    /// cannot be written only costs speed.
    pub fn learn(&mut self, learned: Vec<Learned>, path: &std::path::Path) {
        if learned.is_empty() {
            return;
        }
        self.files.extend(learned);
        if let Ok(bytes) = serde_json::to_vec(self) {
            let _ = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| crate::files::replace(path, &bytes));
        }
    }
}
