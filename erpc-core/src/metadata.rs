//! Call metadata: ordered key/value pairs carried in the header block.

use bytes::Bytes;

use crate::protocol::ByteStr;

/// Key/value pairs that travel with a request or a response (auth tokens, trace context,
/// tenant ids...). Keys are UTF-8 (1–255 bytes); values are bytes (usually UTF-8). A key may
/// repeat; [`Metadata::get`] returns the first value.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: Vec<(ByteStr, Bytes)>,
}

impl Clone for Metadata {
    fn clone(&self) -> Self {
        // Most calls carry none: a fail mode keeps a copy of every request, and `Vec::clone`
        // of an empty vector still goes through the slice copy.
        if self.entries.is_empty() {
            return Metadata::default();
        }
        Metadata {
            entries: self.entries.clone(),
        }
    }
}

impl Metadata {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append an entry.
    pub fn insert(&mut self, key: impl Into<ByteStr>, value: impl Into<Bytes>) -> &mut Self {
        self.entries.push((key.into(), value.into()));
        self
    }

    /// Replace every entry for `key` with one value.
    pub fn set(&mut self, key: impl Into<ByteStr>, value: impl Into<Bytes>) -> &mut Self {
        let key = key.into();
        self.entries.retain(|(k, _)| *k != key);
        self.entries.push((key, value.into()));
        self
    }

    /// The first value for `key`.
    pub fn get(&self, key: &str) -> Option<&Bytes> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// The first value for `key`, if it is UTF-8.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value for `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// Remove every entry for `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k.as_str() != key);
    }

    /// All entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Append every entry of `other`.
    pub fn extend(&mut self, other: &Metadata) {
        self.entries.extend(other.entries.iter().cloned());
    }

    pub(crate) fn push_raw(&mut self, key: ByteStr, value: Bytes) {
        self.entries.push((key, value));
    }
}

impl<K: Into<ByteStr>, V: Into<Bytes>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Metadata {
            entries: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

/// The metadata key rule (PROTOCOL.md §2.2) in words, for messages.
pub const KEY_RULE: &str =
    "metadata keys are 1–255 characters of lowercase a-z, 0-9, '-', '_' and '.' (PROTOCOL.md §2.2)";

/// Whether `key` is a metadata key a caller should send: 1–255 bytes (the wire's bound) of
/// lowercase ASCII letters, digits, `-`, `_` and `.` (the form every erpc layer reads keys
/// in — `authorization`, `traceparent` — and the one HTTP/2 and gRPC allow). A key outside
/// it would travel, but silently never match what a server looks up (`Authorization` is
/// not `authorization`). Tools check what people type with it (`erpc call -H`, the
/// gateway's header allow-list).
///
/// # Errors
/// The key and the rule ([`KEY_RULE`]), for a message.
pub fn check_key(key: &str) -> Result<(), String> {
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(b);
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| allowed(&b)) {
        return Ok(());
    }
    Err(format!("{key:?} is not a valid metadata key: {KEY_RULE}"))
}

#[cfg(test)]
mod key_tests {
    use super::check_key;

    #[test]
    fn keys_are_lowercase_ascii_of_bounded_length() {
        for good in ["authorization", "x-user", "a.b_c-1", &"k".repeat(255)] {
            assert_eq!(check_key(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Bad Key",
            "Authorization",
            "x user",
            "ключ",
            &"k".repeat(256),
        ] {
            let why = check_key(bad).expect_err(bad);
            assert!(
                why.contains("lowercase a-z") && why.contains("1–255"),
                "{why}"
            );
        }
    }
}
