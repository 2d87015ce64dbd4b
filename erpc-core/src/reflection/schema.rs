//! JSON Schemas for reflection, where a type has one.
//!
//! Generated code asks `(&&SchemaProbe::<T>::NEW).schema()`: method lookup tries
//! [`WithSchema`] (implemented for `&SchemaProbe<T>` when `T: schemars::JsonSchema` and the
//! `schema` feature is on) before it falls back to [`NoSchema`] (every `SchemaProbe<T>`),
//! so a service whose types do not derive `JsonSchema` still compiles and reports no schema.

use std::marker::PhantomData;

/// A stand-in for `T` that method lookup can pick a schema source for.
pub struct SchemaProbe<T>(PhantomData<fn() -> T>);

impl<T> SchemaProbe<T> {
    /// The probe.
    pub const NEW: Self = SchemaProbe(PhantomData);
}

/// The fallback: no schema.
pub trait NoSchema {
    /// `None`.
    fn schema(&self) -> Option<String> {
        None
    }
}

impl<T> NoSchema for SchemaProbe<T> {}

/// The schema of a type that derives `schemars::JsonSchema` (feature `schema`).
pub trait WithSchema {
    /// The JSON Schema as JSON text.
    fn schema(&self) -> Option<String>;
}

#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema> WithSchema for &SchemaProbe<T> {
    fn schema(&self) -> Option<String> {
        serde_json::to_string(&schemars::schema_for!(T)).ok()
    }
}
