//! A short ordered list of compression ids, stored inline: the accept-compression field of a
//! call's header block (PROTOCOL.md §2.2, §6) and the client's setting it is built from.
//!
//! Inline because every call may carry one: a list on the heap would be an allocation per
//! call, and the protocol bounds the list at [`CompressionList::MAX`] ids anyway.

use std::fmt;

use erpc_codec::compression::CompressionId;

/// Up to [`CompressionList::MAX`] compression ids, in order (most preferred first), with no
/// allocation.
///
/// Two uses: in a header block ([`crate::protocol::Head::accept_compression`]) it is the
/// field as received — what the call asks for first (`none` if nothing), then what else it
/// accepts; as a client setting ([`crate::ClientConfig::accept_compression`]) it is the
/// compressions accepted besides the call's own, built with [`FromIterator`], which skips
/// `none` (always accepted) and repeats.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct CompressionList {
    len: u8,
    ids: [u8; CompressionList::MAX],
    /// More distinct ids were given than fit: the list is refused when a call uses it.
    overflowed: bool,
}

impl CompressionList {
    /// The most ids a list holds, and the longest accept-compression field a peer accepts.
    pub const MAX: usize = 16;

    /// The empty list.
    pub const fn new() -> Self {
        CompressionList {
            len: 0,
            ids: [0; CompressionList::MAX],
            overflowed: false,
        }
    }

    /// The list of a received field's value: `None` if it is empty or longer than
    /// [`CompressionList::MAX`] bytes (a malformed field). Kept as received, repeats included.
    pub fn from_wire(value: &[u8]) -> Option<Self> {
        if value.is_empty() || value.len() > Self::MAX {
            return None;
        }
        let mut list = Self::new();
        list.ids[..value.len()].copy_from_slice(value);
        list.len = value.len() as u8;
        Some(list)
    }

    /// The ids as they travel: one byte each.
    pub fn as_bytes(&self) -> &[u8] {
        &self.ids[..self.len as usize]
    }

    /// The ids, in order.
    pub fn iter(&self) -> impl Iterator<Item = CompressionId> + '_ {
        self.as_bytes().iter().map(|&id| CompressionId(id))
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are none (no field is sent).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `id` is listed.
    pub fn contains(&self, id: CompressionId) -> bool {
        self.as_bytes().contains(&id.0)
    }

    /// Whether more distinct ids were given than a list holds (see [`FromIterator`]).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Append `id` unless it is listed already; false if the list is full.
    pub fn push(&mut self, id: CompressionId) -> bool {
        if self.contains(id) {
            return true;
        }
        if self.len() == Self::MAX {
            self.overflowed = true;
            return false;
        }
        self.ids[self.len()] = id.0;
        self.len += 1;
        true
    }

    /// Whether a frame of a call that sent this list may arrive compressed with `id`:
    /// `none`, or any listed id (PROTOCOL.md §6).
    pub fn allows(&self, id: CompressionId) -> bool {
        id == CompressionId::NONE || self.contains(id)
    }

    /// The compression a server applies to the responses of a call that sent this list
    /// (PROTOCOL.md §6): the first listed id this build supports, unless that is `none` (the
    /// call asks for no compression), in which case `preferred` if the list names it and it
    /// is supported, else none. An empty list (no field) gets none.
    pub fn choose(&self, preferred: CompressionId) -> CompressionId {
        for id in self.iter() {
            if id == CompressionId::NONE {
                return if preferred.is_supported() && self.contains(preferred) {
                    preferred
                } else {
                    CompressionId::NONE
                };
            }
            if id.is_supported() {
                return id;
            }
        }
        CompressionId::NONE
    }
}

/// Collects distinct ids, skipping `none` (always accepted, so listing it says nothing). More
/// than [`CompressionList::MAX`] distinct ids mark the list as overflowed, and a call using it
/// fails with `invalid_argument` rather than losing any silently.
impl FromIterator<CompressionId> for CompressionList {
    fn from_iter<I: IntoIterator<Item = CompressionId>>(ids: I) -> Self {
        let mut list = CompressionList::new();
        for id in ids {
            if id != CompressionId::NONE {
                list.push(id);
            }
        }
        list
    }
}

impl fmt::Debug for CompressionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        list.entries(self.iter());
        if self.overflowed {
            list.entry(&"(overflowed)");
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GZIP: CompressionId = CompressionId::GZIP;
    const ZSTD: CompressionId = CompressionId::ZSTD;
    const NONE: CompressionId = CompressionId::NONE;

    fn wire(bytes: &[u8]) -> CompressionList {
        CompressionList::from_wire(bytes).unwrap()
    }

    #[test]
    fn the_field_is_one_to_sixteen_ids() {
        assert_eq!(CompressionList::from_wire(&[]), None);
        assert_eq!(CompressionList::from_wire(&[1; 17]), None);
        assert_eq!(wire(&[1; 16]).len(), 16);
        assert_eq!(wire(&[3, 1]).as_bytes(), &[3, 1]);
    }

    #[test]
    fn the_first_supported_id_is_chosen_and_none_defers_to_the_server() {
        assert_eq!(CompressionList::new().choose(GZIP), NONE);
        assert_eq!(wire(&[1]).choose(NONE), GZIP);
        assert_eq!(wire(&[3, 1]).choose(GZIP), ZSTD);
        // An id this build lacks is skipped, as is one nobody knows.
        assert_eq!(wire(&[0x7f, 1]).choose(NONE), GZIP);
        assert_eq!(wire(&[0x7f]).choose(NONE), NONE);
        // Asking for none: the server's preference, only if the call accepts it.
        assert_eq!(wire(&[0, 1, 3]).choose(NONE), NONE);
        assert_eq!(wire(&[0, 1, 3]).choose(ZSTD), ZSTD);
        assert_eq!(wire(&[0, 1]).choose(ZSTD), NONE);
        assert_eq!(wire(&[0, 0x7f]).choose(CompressionId(0x7f)), NONE);
    }

    #[test]
    fn a_collected_list_skips_none_and_repeats_and_marks_overflow() {
        let list: CompressionList = [GZIP, NONE, ZSTD, GZIP].into_iter().collect();
        assert_eq!(list.as_bytes(), &[1, 3]);
        assert!(list.allows(NONE) && list.allows(ZSTD) && !list.allows(CompressionId::ZLIB));
        assert!(!list.overflowed());
        let many: CompressionList = (1..=17).map(CompressionId).collect();
        assert!(many.overflowed());
        assert_eq!(many.len(), 16);
    }
}
