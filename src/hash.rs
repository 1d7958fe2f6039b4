//! Canonical content and hashing, a leaf every stage may use. The canonical form of a value is its JSON with every map's keys sorted
//! and the `origin` of declarations left out, so it captures meaning and not where or how it was written.

use serde::Serialize;
use serde_json::Value;

/// The canonical JSON of any serialisable value.
pub fn canonical<T: Serialize>(value: &T) -> Value {
    let mut v = serde_json::to_value(value).unwrap_or(Value::Null);
    strip(&mut v);
    v
}

/// Removes location-only fields and sorts every map's keys (explicitly, so the form stays canonical
/// even if a dependency turns on `serde_json`'s insertion order).
fn strip(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("origin");
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, mut value) in entries {
                strip(&mut value);
                map.insert(key, value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// BLAKE3 of a canonical value, as lowercase hex.
pub fn hash_hex(v: &Value) -> String {
    blake3::hash(v.to_string().as_bytes()).to_hex().to_string()
}

/// A file's length and modification time (ns since the epoch), or `None` when it cannot be read.
pub fn file_stamp(path: &std::path::Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(path).ok()?;
    let modified = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((m.len(), modified))
}

/// BLAKE3 of a regular file's bytes, as lowercase hex, read in pieces (a pipe or a device, which would
/// block or never end, is not read: `None`).
pub fn file_hash(path: &std::path::Path) -> Option<String> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path).ok()?).ok()?;
    Some(hasher.finalize().to_hex().to_string())
}
