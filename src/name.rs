//! `Name`: a short string (a user or group name) kept inline, without an allocation.
//!
//! A plan over 100,000 files holds an owner and a group for every file three times (baseline,
//! twin, machine); as `String`s those were 600,000 small allocations and a fifth of the peak
//! memory. Names up to `INLINE` bytes (all the usual ones) live inside the value; longer
//! ones on the heap. It compares, orders and prints as the text it holds.

use std::fmt;
use std::ops::Deref;

const INLINE: usize = 22;

#[derive(Clone)]
pub(crate) enum Name {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Name {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Only ever filled from a `&str` of `len` bytes (`From<&str>`).
            Name::Inline { len, bytes } => std::str::from_utf8(&bytes[..*len as usize]).unwrap_or_default(),
            Name::Heap(s) => s,
        }
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Name::Inline { len: s.len() as u8, bytes }
        } else {
            Name::Heap(s.into())
        }
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name::from(s.as_str())
    }
}

impl From<std::borrow::Cow<'_, str>> for Name {
    fn from(s: std::borrow::Cow<'_, str>) -> Name {
        Name::from(&*s)
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_names_hold_their_text() {
        let long = "a-name-longer-than-twenty-two-bytes";
        for s in ["", "root", "systemd-journal-remote", long, "ünïcödé"] {
            let n = Name::from(s);
            assert_eq!(n.as_str(), s);
            assert_eq!(n.to_string(), s);
            assert_eq!(n, Name::from(s.to_string()));
        }
        assert!(matches!(Name::from("systemd-journal-remote"), Name::Inline { .. }), "22 bytes fit");
        assert!(matches!(Name::from(long), Name::Heap(_)));
        assert_eq!(std::mem::size_of::<Name>(), 24);
        // Ordered as text, whichever way each is kept.
        let (a, b, long) = (Name::from("a"), Name::from("b"), Name::from(long));
        assert!(long < b && a < long);
    }
}
