//! The study fingerprint.

use crate::hash::{canonical, hash_hex};
use serde_json::Value;

/// The study fingerprint: the hash of its meaning. The output directory is where results go, not what
/// they are, so it is left out too.
pub fn fingerprint(study: &crate::study::Study) -> String {
    let mut v = canonical(study);
    if let Value::Object(map) = &mut v {
        map.remove("output");
    }
    hash_hex(&v)
}
