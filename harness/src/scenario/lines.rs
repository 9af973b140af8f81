//! Where each field of a scenario file is: a tree of YAML nodes with their lines, so that a problem
//! found after parsing (an unknown endpoint, a bad matrix) can name the line as well as the field.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

/// The line of every node of a YAML document, addressed by field paths such as
/// `steps[2].probes[0].to`.
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    root: Option<Node>,
}

impl LineIndex {
    /// Indexes `text`; a text that does not parse gives an empty index (its parse error already
    /// carries the line).
    pub fn new(text: &str) -> LineIndex {
        let options = serde_saphyr::options! { strict_booleans: true };
        LineIndex {
            root: serde_saphyr::from_str_with_options::<Node>(text, options).ok(),
        }
    }

    /// The 1-based line of the node at `path` (`a.b[2].c`), or of its deepest existing ancestor.
    /// The empty path is the document itself.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut node = self.root.as_ref()?;
        for segment in segments(path) {
            let child = match (&node.children, segment) {
                (Children::Map(entries), Segment::Key(key)) => {
                    entries.iter().find(|(k, _)| k == key).map(|(_, n)| n)
                }
                (Children::Seq(items), Segment::Index(i)) => items.get(i),
                _ => None,
            };
            match child {
                Some(c) => node = c,
                None => break,
            }
        }
        Some(node.line)
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `a.b[2].c` into `a`, `b`, `2`, `c`.
fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        for index in rest.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Segment::Index(i));
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Node {
    line: usize,
    children: Children,
}

#[derive(Debug, Clone)]
enum Children {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Leaf,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<Shape>::deserialize(d)?;
        Ok(Node {
            line: usize::try_from(spanned.referenced.line()).unwrap_or(0),
            children: spanned.value.0,
        })
    }
}

/// A node's children, without its location (which [`Node`] adds through `Spanned`).
struct Shape(Children);

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Key, Node>()? {
            entries.push((key.0, value));
        }
        Ok(Shape(Children::Map(entries)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Shape(Children::Seq(items)))
    }

    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape(Children::Leaf))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape(Children::Leaf))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape(Children::Leaf))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape(Children::Leaf))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape(Children::Leaf))
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape(Children::Leaf))
    }
}

/// A mapping key of any scalar type, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar mapping key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }

    fn visit_unit<E>(self) -> Result<Key, E> {
        Ok(Key("null".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_of_nested_fields_and_falls_back_to_the_nearest_ancestor() {
        let index = LineIndex::new(
            "name: a\nsteps:\n- name: s\n  probes:\n  - {from: x/a, to: x/b}\n  - from: x/a\n    to: x/c\n",
        );
        assert_eq!(index.line("name"), Some(1));
        assert_eq!(index.line("steps[0].name"), Some(3));
        assert_eq!(index.line("steps[0].probes[0].to"), Some(5));
        assert_eq!(index.line("steps[0].probes[1].to"), Some(7));
        // Missing children resolve to the closest node that exists (the sequence starts on 5).
        assert_eq!(index.line("steps[0].probes[9]"), Some(5));
        assert_eq!(index.line("steps[0].matrices[0]"), Some(3));
    }

    #[test]
    fn unparsable_text_has_no_lines() {
        assert_eq!(LineIndex::new("a: [1,\n").line("a"), None);
    }
}
