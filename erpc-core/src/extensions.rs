//! Typed extensions: values of any type, one per type, attached to a call's context by
//! middleware (an authenticated user, a tenant) for handlers to read.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;

type AnyMap = HashMap<TypeId, Box<dyn Any + Send + Sync>>;

/// A map from type to value. Empty extensions take one word and allocate nothing: every call
/// carries one, and most never use it.
#[derive(Default)]
pub struct Extensions {
    #[allow(clippy::box_collection)]
    map: Option<Box<AnyMap>>,
}

impl Extensions {
    /// No values. `const`, so an empty set can be a `static` (a `CallHead` built by hand in
    /// a test borrows one).
    pub const fn new() -> Self {
        Extensions { map: None }
    }

    /// Store `value`, returning the previous value of its type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        self.map
            .get_or_insert_with(Default::default)
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }

    /// The value of type `T`.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map
            .as_ref()?
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref())
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: Send + Sync + 'static>(&mut self) -> Option<&mut T> {
        self.map
            .as_mut()?
            .get_mut(&TypeId::of::<T>())
            .and_then(|b| b.downcast_mut())
    }

    /// Move every value of `other` in (replacing values of the same types).
    pub(crate) fn extend(&mut self, other: Extensions) {
        let Some(theirs) = other.map else { return };
        match &mut self.map {
            Some(ours) => ours.extend(*theirs),
            None => self.map = Some(theirs),
        }
    }

    /// Take the value of type `T` out.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.map
            .as_mut()?
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast().ok().map(|b| *b))
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Extensions({} values)",
            self.map.as_ref().map_or(0, |m| m.len())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_type() {
        let mut ext = Extensions::new();
        assert_eq!(ext.insert(5u32), None);
        assert_eq!(ext.insert(6u32), Some(5));
        ext.insert(String::from("user"));
        assert_eq!(ext.get::<u32>(), Some(&6));
        *ext.get_mut::<u32>().unwrap() += 1;
        assert_eq!(ext.remove::<u32>(), Some(7));
        assert_eq!(ext.get::<String>().map(String::as_str), Some("user"));
        assert_eq!(ext.get::<u64>(), None);
    }
}
