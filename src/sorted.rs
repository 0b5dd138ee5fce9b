//! Walking sorted maps side by side: every key once, in order, with each map's value, instead
//! of a set of every key and a lookup per key in each map (string comparisons of long paths
//! were the largest user-space cost of a no-op snapshot).

use std::iter::Peekable;

/// The value at `key` of a sorted map's iterator, when its next key is `key`; the iterator
/// then moves past it.
pub(crate) fn take<'a, V: 'a>(
    it: &mut Peekable<impl Iterator<Item = (&'a String, &'a V)>>,
    key: &str,
) -> Option<&'a V> {
    it.next_if(|(k, _)| k.as_str() == key).map(|(_, v)| v)
}

/// The value at `key` of a sorted list's iterator walked by keys that go up with gaps (paths
/// looked up in the sorted metadata lines): smaller keys are skipped, and `key` is consumed.
pub(crate) fn seek<'a, V: Copy + 'a>(
    it: &mut Peekable<impl Iterator<Item = &'a (&'a str, V)>>,
    key: &str,
) -> Option<V> {
    while it.next_if(|(k, _)| *k < key).is_some() {}
    it.next_if(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The smallest of the next keys of several sorted iterators: the key the walk is at.
pub(crate) fn next_key<'a>(keys: impl IntoIterator<Item = Option<&'a String>>) -> Option<&'a String> {
    keys.into_iter().flatten().min()
}

/// The keys of `sorted` (in order) that the sorted keys `have` do not hold.
pub(crate) fn not_in<'a>(
    sorted: impl Iterator<Item = &'a String>,
    have: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let mut have = have.peekable();
    let mut res = Vec::new();
    for k in sorted {
        while have.next_if(|h| *h < k).is_some() {}
        if have.peek() != Some(&k) {
            res.push(k.clone());
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn walks_maps_side_by_side() {
        let a: BTreeMap<String, u8> = [("/a", 1), ("/c", 3)].map(|(k, v)| (k.to_string(), v)).into();
        let b: BTreeMap<String, u8> = [("/b", 20), ("/c", 30)].map(|(k, v)| (k.to_string(), v)).into();
        let (mut ia, mut ib) = (a.iter().peekable(), b.iter().peekable());
        let mut seen = Vec::new();
        while let Some(k) = next_key([ia.peek().map(|e| e.0), ib.peek().map(|e| e.0)]) {
            seen.push((k.clone(), take(&mut ia, k).copied(), take(&mut ib, k).copied()));
        }
        let want = [("/a", Some(1), None), ("/b", None, Some(20)), ("/c", Some(3), Some(30))];
        assert_eq!(seen, want.map(|(k, x, y)| (k.to_string(), x, y)));
    }

    #[test]
    fn seek_skips_smaller_keys_and_finds_only_equal_ones() {
        let lines = [("/a", 1), ("/b", 2), ("/d", 4)];
        let mut it = lines.iter().peekable();
        assert_eq!(seek(&mut it, "/b"), Some(2));
        assert_eq!(seek(&mut it, "/c"), None);
        assert_eq!(seek(&mut it, "/d"), Some(4));
        assert_eq!(seek(&mut it, "/e"), None);
    }

    #[test]
    fn not_in_finds_the_keys_the_other_list_lacks() {
        let have: Vec<String> = ["/b", "/d", "/e"].map(String::from).into();
        let sorted: Vec<String> = ["/a", "/b", "/c", "/e", "/f"].map(String::from).into();
        assert_eq!(not_in(sorted.iter(), have.iter()), ["/a", "/c", "/f"]);
        assert_eq!(not_in(sorted.iter(), [].iter()), sorted);
    }
}
