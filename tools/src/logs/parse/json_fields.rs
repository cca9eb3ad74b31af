//! A JSON log line's top-level fields, read with serde_json: only the fields loglens
//! reads are built ([`Fields`]), borrowed from the line where they can be.
use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use smallvec::SmallVec;

use super::{canonical_label, is_read};

/// A JSON value as a log line's fields need it, borrowed from the line where it can be
/// (a string without escapes): the file scan parses every matching line, and building
/// a `serde_json::Value` (an allocation per string, key and map) was most of its cost.
///
/// Two readers build it and must agree: serde_json (here) and the scanner in
/// [`super::json_scan`], which handles the common shapes faster and hands anything else
/// to serde_json.
#[derive(Debug, PartialEq)]
pub(super) enum Field<'de> {
    Str(Cow<'de, str>),
    Num(serde_json::Number),
    /// An object's fields in document order (nested labels).
    Map(Vec<Entry<'de>>),
    /// Anything else (a bool, null, an array): nothing reads it.
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<Field<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Field<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Field<'a>, E> {
                Ok(Field::Num(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Field<'a>, E> {
                Ok(Field::Num(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Field<'a>, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Field::Other, Field::Num))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Field<'a>, E> {
                Ok(Field::Other)
            }
            fn visit_unit<E>(self) -> Result<Field<'a>, E> {
                Ok(Field::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Field<'a>, A::Error> {
                // Nested objects are read for their labels only.
                read_object::<Vec<Entry<'a>>, A>(m, |k| canonical_label(k).is_some())
                    .map(Field::Map)
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

impl<'a> Field<'a> {
    /// The string, borrowed from the line where it was.
    pub(super) fn as_cow(&self) -> Option<Cow<'a, str>> {
        match self {
            Field::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// An object key, borrowed from the line unless it has escapes (serde's own `Cow`
/// always copies).
struct Key<'de>(Cow<'de, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<Key<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visit(std::marker::PhantomData))
    }
}

/// The fields of an object whose key passes `keep`, in document order; a field nothing
/// reads (a message, a payload) is skipped, not built. A repeated key keeps its first
/// place and takes its last value, as in `serde_json::Map`. `keep` passes a bounded set
/// of names, so the list stays short whatever the line (a hostile one can repeat a key
/// thousands of times).
fn read_object<'de: 'a, 'a, E: Entries<'a>, A: MapAccess<'de>>(
    mut m: A,
    keep: fn(&str) -> bool,
) -> Result<E, A::Error> {
    let mut fields = E::default();
    while let Some(Key(k)) = m.next_key()? {
        if !keep(&k) {
            m.next_value::<IgnoredAny>()?;
            continue;
        }
        let v: Field<'a> = m.next_value()?;
        fields.put(k, v);
    }
    Ok(fields)
}

/// One field of an object: its key and value.
pub(super) type Entry<'a> = (Cow<'a, str>, Field<'a>);

/// A list of an object's fields in document order, where a repeated key keeps its first
/// place and takes its last value (as `serde_json::Map` does).
pub(super) trait Entries<'a>: Default + std::ops::DerefMut<Target = [Entry<'a>]> {
    fn push_entry(&mut self, e: Entry<'a>);

    /// Adds `key: value`, or replaces the value of an earlier `key`.
    #[inline(always)]
    fn put(&mut self, key: Cow<'a, str>, value: Field<'a>) {
        let i = self.slot(key);
        self[i].1 = value;
    }

    /// The place of `key`'s value: an earlier one's, else a new one (holding
    /// [`Field::Other`] until it is written).
    #[inline(always)]
    fn slot(&mut self, key: Cow<'a, str>) -> usize {
        match self.iter().position(|(f, _)| *f == key) {
            Some(i) => i,
            None => {
                self.push_entry((key, Field::Other));
                self.len() - 1
            }
        }
    }
}

impl<'a> Entries<'a> for Vec<Entry<'a>> {
    fn push_entry(&mut self, e: Entry<'a>) {
        self.push(e);
    }
}

impl<'a> Entries<'a> for SmallVec<[Entry<'a>; 4]> {
    #[inline(always)]
    fn push_entry(&mut self, e: Entry<'a>) {
        self.push(e);
    }
}

/// A JSON object's top-level fields that [`super::json_view`] reads ([`is_read`]), in
/// document order: no hash map to build for the few keys a log line has, and no value
/// built for the rest. A repeated key keeps its first place and its last value, as in
/// `serde_json::Map`. The few a log line has stay inline (no allocation).
#[derive(Debug, Default, PartialEq)]
pub(super) struct Fields<'de>(pub(super) SmallVec<[Entry<'de>; 4]>);

impl<'de> Fields<'de> {
    pub(super) fn get(&self, key: &str) -> Option<&Field<'de>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Field<'de>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<Fields<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Fields<'a>, A::Error> {
                read_object(m, is_read).map(Fields)
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}
