//! The heartbeat message as plain data: an ordered list of typed fields.
//!
//! Order is part of the message: both digests cover the fields in the order
//! the creator appended them, and duplicates are legal on the wire, so this is
//! a `Vec`, not a map.

/// Field type tag as it appears on the wire (`(0)`..`(4)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `(0)` a C string; may not contain NUL.
    Str = 0,
    /// `(1)` raw bytes (e.g. the 16-byte `srcuuid`); base64 in classic text.
    Binary = 1,
    /// `(2)` a nested message.
    Struct = 2,
    /// `(3)` a list of strings.
    List = 3,
    /// `(4)` a compressed message; carried opaquely, never produced by us.
    Compressed = 4,
}

impl FieldType {
    pub fn from_digit(d: u8) -> Option<Self> {
        Some(match d {
            b'0' => FieldType::Str,
            b'1' => FieldType::Binary,
            b'2' => FieldType::Struct,
            b'3' => FieldType::List,
            b'4' => FieldType::Compressed,
            _ => return None,
        })
    }

    pub fn digit(self) -> u8 {
        b'0' + self as u8
    }
}

/// A field value. Strings are kept as bytes: the digest covers exact bytes
/// and a peer may send non-UTF-8 (e.g. latin-1 from a script).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(Vec<u8>),
    Binary(Vec<u8>),
    Struct(Message),
    List(Vec<Vec<u8>>),
    /// Opaque payload of a `(4)` field, exactly as received.
    Compressed(Vec<u8>),
}

impl Value {
    pub fn field_type(&self) -> FieldType {
        match self {
            Value::Str(_) => FieldType::Str,
            Value::Binary(_) => FieldType::Binary,
            Value::Struct(_) => FieldType::Struct,
            Value::List(_) => FieldType::List,
            Value::Compressed(_) => FieldType::Compressed,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: Value,
}

/// An ordered heartbeat message (`struct ha_msg`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    fields: Vec<Field>,
}

impl Message {
    pub fn new() -> Self {
        Self::default()
    }

    /// Shorthand for a message whose first field is `t=<msg_type>`.
    pub fn with_type(msg_type: &str) -> Self {
        let mut m = Self::new();
        m.add_str("t", msg_type);
        m
    }

    /// A message with exactly these fields, in this order.
    pub fn from_fields(fields: Vec<Field>) -> Self {
        Self { fields }
    }

    pub fn into_fields(self) -> Vec<Field> {
        self.fields
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Append a field (heartbeat's `ha_msg_add*`: duplicates allowed).
    pub fn push(&mut self, name: impl Into<String>, value: Value) -> &mut Self {
        self.fields.push(Field {
            name: name.into(),
            value,
        });
        self
    }

    pub fn add_str(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        self.push(name, Value::Str(value.as_ref().to_vec()))
    }

    pub fn add_binary(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        self.push(name, Value::Binary(value.as_ref().to_vec()))
    }

    /// Replace the first field called `name`, or append it (`ha_msg_mod`).
    pub fn set(&mut self, name: &str, value: Value) -> &mut Self {
        match self.fields.iter_mut().find(|f| f.name == name) {
            Some(f) => f.value = value,
            None => {
                self.push(name, value);
            }
        }
        self
    }

    pub fn set_str(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        self.set(name, Value::Str(value.as_ref().to_vec()))
    }

    /// Remove every field called `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.fields.len();
        self.fields.retain(|f| f.name != name);
        before - self.fields.len()
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// The first string field `name`, if present and valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub fn get_binary(&self, name: &str) -> Option<&[u8]> {
        match self.get(name)? {
            Value::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// A string field holding lower-case hex without padding (`seq`, `hg`,
    /// `ts`, `dt`, `ackseq`): heartbeat writes these with `%lx`.
    pub fn get_hex(&self, name: &str) -> Option<u64> {
        let s = self.get_str(name)?;
        if s.is_empty() || s.len() > 16 {
            return None;
        }
        u64::from_str_radix(s, 16).ok()
    }

    /// The message type (`t=`).
    pub fn msg_type(&self) -> Option<&str> {
        self.get_str("t")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_first_and_keeps_order() {
        let mut m = Message::with_type("status");
        m.add_str("st", "up").add_str("st", "second");
        m.set_str("st", "active");
        let names: Vec<_> = m.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["t", "st", "st"]);
        assert_eq!(m.get_str("st"), Some("active"));
        assert_eq!(m.remove("st"), 2);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn hex_fields_parse_like_strtoul() {
        let mut m = Message::new();
        m.add_str("seq", "1f")
            .add_str("bad", "xyz")
            .add_str("huge", "1".repeat(17));
        assert_eq!(m.get_hex("seq"), Some(0x1f));
        assert_eq!(m.get_hex("bad"), None);
        assert_eq!(m.get_hex("huge"), None);
        assert_eq!(m.get_hex("missing"), None);
    }
}
