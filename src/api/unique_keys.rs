//! Refusing a JSON body that names a key twice in one object. JSON parsers disagree on which
//! of the two wins (serde_json keeps the last, others the first or both), so a client and the
//! gateway could read different values from one body; the body is refused instead (422 naming
//! the key and where it is). One pass over the bytes, borrowing keys where they hold no escapes.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

/// A key found twice: its path (`operations[2].data`, empty at the top) and its name.
#[derive(Debug, PartialEq, Eq)]
pub struct DuplicateKey {
    pub path: String,
    pub key: String,
}

impl DuplicateKey {
    /// Where the key is, as a field path: `operations[2].data.name`.
    pub fn field(&self) -> String {
        if self.path.is_empty() {
            self.key.clone()
        } else {
            format!("{}.{}", self.path, self.key)
        }
    }
}

/// `Err` with the first key named twice in one object of `bytes`; `Ok` for any other body (one
/// that is not JSON is left to the parser that reads it, which says what is wrong).
pub fn check(bytes: &[u8]) -> Result<(), DuplicateKey> {
    let found = RefCell::new(None);
    let path = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    // Bodies are shallow; serde_json's own recursion limit stops a hostile one.
    let _ = Walk {
        path: &path,
        found: &found,
    }
    .deserialize(&mut deserializer);
    match found.into_inner() {
        Some(duplicate) => Err(duplicate),
        None => Ok(()),
    }
}

enum Segment<'de> {
    Key(Cow<'de, str>),
    Index(usize),
}

#[derive(Clone, Copy)]
struct Walk<'a, 'de> {
    path: &'a RefCell<Vec<Segment<'de>>>,
    found: &'a RefCell<Option<DuplicateKey>>,
}

impl Walk<'_, '_> {
    fn path_text(&self) -> String {
        let mut text = String::new();
        for segment in self.path.borrow().iter() {
            match segment {
                Segment::Key(key) => {
                    if !text.is_empty() {
                        text.push('.');
                    }
                    text.push_str(key);
                }
                Segment::Index(index) => text.push_str(&format!("[{index}]")),
            }
        }
        text
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = Keys::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if !keys.insert(key.clone()) {
                *self.found.borrow_mut() = Some(DuplicateKey {
                    path: self.path_text(),
                    key: key.into_owned(),
                });
                return Err(de::Error::custom("duplicate key"));
            }
            self.path.borrow_mut().push(Segment::Key(key));
            map.next_value_seed(self)?;
            self.path.borrow_mut().pop();
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            self.path.borrow_mut().push(Segment::Index(index));
            let more = seq.next_element_seed(self)?.is_some();
            self.path.borrow_mut().pop();
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// The keys of one object seen so far: a scan while there are few (most objects), a hash set
/// beyond, so that an object of many keys costs linear time.
#[derive(Default)]
struct Keys<'de> {
    few: Vec<Cow<'de, str>>,
    many: Option<std::collections::HashSet<Cow<'de, str>>>,
}

impl<'de> Keys<'de> {
    /// `false` when `key` was seen already.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if let Some(many) = &mut self.many {
            return many.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        self.few.push(key);
        if self.few.len() > 16 {
            self.many = Some(self.few.drain(..).collect());
        }
        true
    }
}

/// An object key, borrowed from the body when it holds no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_key_named_twice_with_its_path() {
        let body = br#"{"device_id":"a","operations":[{"data":{"id":1}},{"data":{"id":1,"name":"x","name":"y"}}]}"#;
        let duplicate = check(body).unwrap_err();
        assert_eq!(duplicate.field(), "operations[1].data.name");
        assert_eq!(check(br#"{"a":1,"a":2}"#).unwrap_err().field(), "a");
        // The same key written with an escape is the same key.
        assert_eq!(check(br#"{"ab":1,"a\u0062":2}"#).unwrap_err().key, "ab");
    }

    #[test]
    fn accepts_the_same_key_in_different_objects_and_anything_not_json() {
        assert_eq!(check(br#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#), Ok(()));
        assert_eq!(check(b"not json"), Ok(()));
        assert_eq!(check(b""), Ok(()));
    }
}
