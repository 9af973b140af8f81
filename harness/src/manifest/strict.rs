//! Detecting fields a typed decoding dropped: the difference between what the user wrote and
//! what survives a round trip through the typed struct.

use serde_json::Value;

/// The paths (e.g. `spec.ingress[0].form`) present in `original` but absent from `round_trip`.
/// `null` values in the original count as absent, since they mean "not set".
pub fn unknown_fields(original: &Value, round_trip: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(original, round_trip, String::new(), &mut found);
    found
}

fn walk(original: &Value, round_trip: &Value, path: String, found: &mut Vec<String>) {
    match (original, round_trip) {
        (Value::Object(o), Value::Object(r)) => {
            for (key, value) in o {
                if value.is_null() {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match r.get(key) {
                    Some(rv) => walk(value, rv, child, found),
                    None => found.push(child),
                }
            }
        }
        (Value::Array(o), Value::Array(r)) => {
            for (i, (ov, rv)) in o.iter().zip(r).enumerate() {
                walk(ov, rv, format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}
