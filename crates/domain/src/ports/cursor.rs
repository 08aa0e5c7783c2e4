//! Opaque pagination cursors: a store's position wrapped with the list it
//! belongs to, so a cursor cannot be replayed against another list.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ports::StoreError;

const MAX_CURSOR_LEN: usize = 2048;

#[derive(Serialize, Deserialize)]
struct Envelope {
    s: String,
    p: Value,
}

/// Wraps a store-specific position for the list `scope`.
pub fn encode(scope: &str, position: Value) -> String {
    let envelope = Envelope {
        s: scope.to_owned(),
        p: position,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&envelope).unwrap_or_default())
}

/// Unwraps a cursor, checking it belongs to the list `scope`.
pub fn decode(scope: &str, cursor: &str) -> Result<Value, StoreError> {
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(StoreError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let envelope: Envelope =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    if envelope.s != scope {
        return Err(StoreError::InvalidCursor);
    }
    Ok(envelope.p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_within_scope_only() {
        let cursor = encode("pe/status/registered", json!({"k": ["a", 1]}));
        assert_eq!(
            decode("pe/status/registered", &cursor),
            Ok(json!({"k": ["a", 1]}))
        );
        assert_eq!(
            decode("cl/status/registered", &cursor),
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            decode("pe/status/registered", "not*base64"),
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            decode("pe/status/registered", "e30"),
            Err(StoreError::InvalidCursor)
        );
    }
}
