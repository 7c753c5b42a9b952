//! Ids routing hands out. UUID v7 so ids sort by creation time in logs and stores.

use uuid::Uuid;

/// A new contact id: `con_` and a UUID v7.
pub fn contact_id() -> String {
    format!("con_{}", Uuid::now_v7())
}

/// A new token id: `tok_` and a UUID v7.
pub fn token_id() -> String {
    format!("tok_{}", Uuid::now_v7())
}

/// A new offer id: `ofr_` and a UUID v7.
pub fn offer_id() -> String {
    format!("ofr_{}", Uuid::now_v7())
}

/// A new case id: `case_` and a UUID v7.
pub fn case_id() -> String {
    format!("case_{}", Uuid::now_v7())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_are_unique() {
        let a = contact_id();
        let b = contact_id();
        assert!(a.starts_with("con_") && b.starts_with("con_"));
        assert_ne!(a, b);
        assert!(token_id().starts_with("tok_"));
        assert!(offer_id().starts_with("ofr_"));
        assert!(case_id().starts_with("case_"));
    }
}
