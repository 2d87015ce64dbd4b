//! What a balancer derives from a list of candidates (a hash ring, each instance's distance),
//! kept until the list changes: built once per [`Candidates::generation`], read under a
//! shared lock on every pick, so a pick allocates nothing and rebuilds nothing.
//!
//! [`Candidates::generation`]: super::Candidates::generation

use std::sync::RwLock;

/// One derived value, for the list generation it was built from.
#[derive(Debug)]
pub(crate) struct ListCache<T> {
    slot: RwLock<Option<(u64, T)>>,
}

impl<T> Default for ListCache<T> {
    fn default() -> Self {
        ListCache {
            slot: RwLock::new(None),
        }
    }
}

impl<T> ListCache<T> {
    /// `read` the value for `generation`, building it with `build` first if the cached one
    /// is for another generation (or there is none).
    pub(crate) fn with<R>(
        &self,
        generation: u64,
        build: impl FnOnce() -> T,
        read: impl FnOnce(&T) -> R,
    ) -> R {
        {
            // A panic elsewhere cannot leave a half-written value: it is replaced whole.
            let slot = self.slot.read().unwrap_or_else(|p| p.into_inner());
            if let Some((_, value)) = slot.as_ref().filter(|(g, _)| *g == generation) {
                return read(value);
            }
        }
        let mut slot = self.slot.write().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|(g, _)| *g != generation) {
            *slot = None;
        }
        let (_, value) = slot.get_or_insert_with(|| (generation, build()));
        read(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_once_per_generation() {
        let cache = ListCache::default();
        let mut builds = 0;
        for generation in [1, 1, 1, 2, 2, 1] {
            cache.with(
                generation,
                || {
                    builds += 1;
                    generation * 10
                },
                |v| assert_eq!(*v, generation * 10),
            );
        }
        assert_eq!(builds, 3);
    }
}
