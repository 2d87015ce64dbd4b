//! Settings that are one of several kinds — a name alone (`failfast`, `round_robin`) or a
//! mapping of one name to its settings (`{failover: {retries: 2}}`, `{nearest: {zone: a}}`)
//! — read without the `config` crate's enum support, which panics on a name alone whose
//! kind needs settings (`default: failover`: "internal error: entered unreachable code")
//! and drops the value of a kind that takes none (`{failfast: 3}` read as `failfast`).
//!
//! Such an enum derives `Deserialize` with `#[serde(remote = "Self")]` (the derived code
//! becomes an inherent `deserialize`, [`OneOf::derived`]) and implements the trait with
//! [`one_of`], which hands the derived code only the shapes it can read: the name as a
//! string, or the name with its settings as an enum of one variant.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// An enum read by [`one_of`].
pub(crate) trait OneOf: Sized {
    /// What it is, for messages: `a fail mode`.
    const WHAT: &'static str;
    /// Each kind that needs settings, with an example of it written out:
    /// `("failover", "{failover: {retries: 2}}")`.
    const WITH_SETTINGS: &'static [(&'static str, &'static str)];
    /// The derived reading (`#[serde(remote = "Self")]`'s inherent `deserialize`).
    fn derived<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

/// Read a `T` from `d`: a name, or a mapping of exactly one name to its settings.
pub(crate) fn one_of<'de, D: Deserializer<'de>, T: OneOf>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(OneOfVisitor(PhantomData))
}

struct OneOfVisitor<T>(PhantomData<T>);

fn example<T: OneOf>(name: &str) -> Option<&'static str> {
    T::WITH_SETTINGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, e)| *e)
}

impl<'de, T: OneOf> Visitor<'de> for OneOfVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}: a name, or a mapping of one name to its settings",
            T::WHAT
        )
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<T, E> {
        if let Some(example) = example::<T>(name) {
            return Err(E::custom(format!(
                "{name} needs its settings, as a mapping: {example}"
            )));
        }
        T::derived(StrDeserializer::<E>::new(name))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let Some(name) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format!(
                "expected {}, found an empty mapping",
                T::WHAT
            )));
        };
        let value = match example::<T>(&name) {
            Some(_) => T::derived(OneVariant {
                name: &name,
                map: &mut map,
            })?,
            None => {
                // A name alone, or an unknown one: the derived code says which.
                let value = T::derived(StrDeserializer::<A::Error>::new(&name))?;
                if map.next_value::<Option<IgnoredAny>>()?.is_some() {
                    return Err(de::Error::custom(format!(
                        "{name} takes no settings: write it alone, `{name}`"
                    )));
                }
                value
            }
        };
        if let Some(other) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "expected one name, found {name} and {other}: give {} only",
                T::WHAT
            )));
        }
        Ok(value)
    }
}

/// The name `name` with its settings, the next value of `map`, as an enum of one variant.
struct OneVariant<'a, A> {
    name: &'a str,
    map: &'a mut A,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for OneVariant<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

impl<'de, A: MapAccess<'de>> de::EnumAccess<'de> for OneVariant<'_, A> {
    type Error = A::Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), A::Error> {
        let variant = seed.deserialize(StrDeserializer::<A::Error>::new(self.name))?;
        Ok((variant, self))
    }
}

impl<'de, A: MapAccess<'de>> de::VariantAccess<'de> for OneVariant<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.map.next_value::<IgnoredAny>().map(drop)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(Seq(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(Map(visitor))
    }
}

/// A variant's settings read as a mapping.
struct Map<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Map<V> {
    type Value = V::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_map(self.0)
    }
}

/// A variant's settings read as a list.
struct Seq<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Seq<V> {
    type Value = V::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_seq(self.0)
    }
}
