//! A fast reader for the JSON log lines most shippers and apps write: one pass over the
//! line's bytes that checks it is a JSON object and takes out the fields loglens reads
//! ([`super::is_read`]), skipping the rest (a message, a payload) without building them.
//!
//! It gives the same [`Fields`] as the serde_json reader in [`super::json_fields`] or
//! says it is not sure (`None`), and the caller then asks serde_json. It is sure only
//! where the answer cannot differ: the JSON grammar of RFC 8259 (which serde_json
//! implements exactly), keys without escapes, read strings whose escapes are not UTF-16
//! surrogates, read numbers that are plain unsigned integers, nesting up to
//! [`MAX_DEPTH`]. Anything else (a key with an escape, `"ts": 1.5e9`, a line that is not
//! JSON at all) goes to serde_json,
//! whose answer stands. The unit tests and the `log_line` fuzz target compare the two.
//!
//! Why: the file scan parses every line that contains the query's literal, and on JSON
//! lines serde_json's generic machinery (a visitor per key and value, a key compared
//! against every name loglens knows) was the largest share of the scan's time.
use std::borrow::Cow;

use smallvec::SmallVec;

use super::json_fields::{Entries, Entry, Field, Fields};
use super::{TEXT_KEYS, TIME_KEYS, canonical_label, is_read};

/// Deepest nesting this reader follows; a deeper line goes to serde_json.
const MAX_DEPTH: usize = 32;

/// `raw`'s read fields when it is a JSON object the reader is sure of; `None`: ask
/// serde_json (it may or may not be JSON).
#[cfg(test)]
pub(super) fn fields(raw: &str) -> Option<Fields<'_>> {
    let mut out = Fields::default();
    read(raw, &mut out).map(|()| out)
}

/// [`fields`] into `out` (empty), which stays where it is: the scan reads a line's
/// fields in place rather than moving them around. `None`: not sure (`out` is then
/// partly written).
pub(super) fn read<'a>(raw: &'a str, out: &mut Fields<'a>) -> Option<()> {
    let mut s = Scan::at_object(raw)?;
    s.object(&mut out.0, is_read, 1)?;
    s.at_end()
}

/// Reads an application's own JSON line (not an envelope) for a filter that reads only
/// the labels `wanted`: returns the field that gives its time (that of the first of
/// [`TIME_KEYS`] it has) and hands `put` its own field for each wanted label it has (by
/// canonical name), as [`read`] and then [`super::json_view`] would find them, in one
/// pass that builds no field list.
///
/// `None` where it is not sure of that: wherever [`read`] is not (it reads every key and
/// value the same way, so it accepts exactly the lines `read` accepts), an envelope (a
/// `line` or `log` key: its text and labels come from elsewhere), a wanted label given by
/// two different keys (which one `json_view` keeps depends on their values), and a line
/// without a time key.
#[inline]
pub(super) fn app_fields<'a>(
    raw: &'a str,
    wanted: &[&str],
    memo: &mut KeyMemo,
    mut put: impl FnMut(&'static str, &Field<'a>),
) -> Option<Field<'a>> {
    let mut s = Scan::at_object(raw)?;
    // The time key of highest rank so far, with its last value (as a field list keeps a
    // repeated key's).
    let mut time: Option<(usize, Field<'a>)> = None;
    let mut labels: SmallVec<[(&'static str, &'a str, Field<'a>); 2]> = SmallVec::new();
    if !s.open(b'}')? {
        let mut nth = 0;
        loop {
            let (key, role) = match memo.keys.get(nth) {
                Some(known) if known.is_at(s.b, s.i) => (s.known_key(known.key.len())?, known.role),
                _ => {
                    let key = s.plain_str()?;
                    let role = KeyRole::of(key);
                    memo.put(nth, key, role);
                    (key, role)
                }
            };
            nth += 1;
            s.ws();
            s.eat(b':')?;
            s.ws();
            match role {
                KeyRole::Skipped => s.skip_value(1)?,
                KeyRole::Text => return None,
                KeyRole::Time(rank) => {
                    let value = s.read_value()?;
                    if time.as_ref().is_none_or(|(r, _)| rank <= *r) {
                        time = Some((rank, value));
                    }
                }
                KeyRole::Label(canon) if wanted.contains(&canon) => {
                    let value = s.read_value()?;
                    match labels.iter_mut().find(|(c, _, _)| *c == canon) {
                        Some((_, k, slot)) if *k == key => *slot = value,
                        Some(_) => return None,
                        None => labels.push((canon, key, value)),
                    }
                }
                KeyRole::Label(_) | KeyRole::Other => s.unused_value()?,
            }
            if !s.next_or_close(b'}')? {
                break;
            }
        }
    }
    s.at_end()?;
    for (canon, _, value) in &labels {
        put(canon, value);
    }
    time.map(|(_, field)| field)
}

/// What [`app_fields`] does with a key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyRole {
    /// Not read ([`is_read`]): its value is skipped.
    Skipped,
    /// One of [`TIME_KEYS`], by rank.
    Time(usize),
    /// One of [`TEXT_KEYS`]: an envelope.
    Text,
    /// A label loglens knows, by canonical name (never `level`).
    Label(&'static str),
    /// Read by [`read`] (its value is checked as `read` checks it) but not used here:
    /// `level` and its aliases, the `labels` and `kubernetes` maps.
    Other,
}

impl KeyRole {
    fn of(key: &str) -> Self {
        if !is_read(key) {
            KeyRole::Skipped
        } else if let Some(rank) = TIME_KEYS.iter().position(|k| *k == key) {
            KeyRole::Time(rank)
        } else if TEXT_KEYS.contains(&key) {
            KeyRole::Text
        } else if let Some(canon) = canonical_label(key).filter(|c| *c != "level") {
            KeyRole::Label(canon)
        } else {
            KeyRole::Other
        }
    }
}

/// The keys of the last line [`app_fields`] read, in order, with their roles: an app
/// writes the same keys line after line, and a key that is the same as the one in its
/// place before is then compared, not searched for its end and looked up again.
#[derive(Debug, Default)]
pub(crate) struct KeyMemo {
    keys: Vec<KnownKey>,
}

/// A key [`KeyMemo`] remembers.
#[derive(Debug)]
struct KnownKey {
    /// Without its quotes (it has no escape).
    key: String,
    role: KeyRole,
    /// For a key of up to 6 bytes: the key in its quotes as the first bytes of a
    /// little-endian word, and the mask of those bytes (else 0), so that one load and a
    /// compare tell it where it is (a call to `memcmp` cost more than the rest).
    word: u64,
    mask: u64,
}

impl KnownKey {
    fn new(key: &str, role: KeyRole) -> Self {
        let mut known = KnownKey {
            key: String::new(),
            role,
            word: 0,
            mask: 0,
        };
        known.set(key, role);
        known
    }

    fn set(&mut self, key: &str, role: KeyRole) {
        self.key.clear();
        self.key.push_str(key);
        self.role = role;
        let quoted = key.len() + 2;
        (self.word, self.mask) = if quoted <= 8 {
            let mut bytes = [0u8; 8];
            bytes[0] = b'"';
            bytes[1..=key.len()].copy_from_slice(key.as_bytes());
            bytes[quoted - 1] = b'"';
            (u64::from_le_bytes(bytes), u64::MAX >> (8 * (8 - quoted)))
        } else {
            (0, 0)
        };
    }

    /// Whether `b` holds this key, in its quotes, from `i` on.
    #[inline]
    fn is_at(&self, b: &[u8], i: usize) -> bool {
        if self.mask != 0
            && let Some(word) = b.get(i..i + 8)
        {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            return (u64::from_le_bytes(bytes) ^ self.word) & self.mask == 0;
        }
        let k = self.key.as_bytes();
        b.get(i) == Some(&b'"')
            && b.get(i + 1..i + 1 + k.len()) == Some(k)
            && b.get(i + 1 + k.len()) == Some(&b'"')
    }
}

impl KeyMemo {
    /// Keys remembered at most.
    const MAX: usize = 16;

    fn put(&mut self, nth: usize, key: &str, role: KeyRole) {
        if let Some(known) = self.keys.get_mut(nth) {
            known.set(key, role);
        } else if nth == self.keys.len() && nth < Self::MAX {
            self.keys.push(KnownKey::new(key, role));
        }
    }
}

/// A position in a line.
struct Scan<'a> {
    raw: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    /// At the `{` that opens `raw` (after any whitespace); `None` if nothing does.
    fn at_object(raw: &'a str) -> Option<Self> {
        let mut s = Scan {
            raw,
            b: raw.as_bytes(),
            i: 0,
        };
        s.ws();
        (s.peek()? == b'{').then_some(s)
    }

    /// Only whitespace is left.
    fn at_end(&mut self) -> Option<()> {
        self.ws();
        (self.i == self.b.len()).then_some(())
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips JSON whitespace (space, tab, newline, carriage return).
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// The object at `{`: the fields whose key passes `keep` go to `out`, the others
    /// are skipped.
    fn object<E: Entries<'a>>(
        &mut self,
        out: &mut E,
        keep: impl Fn(&str) -> bool + Copy,
        depth: usize,
    ) -> Option<()> {
        if self.open(b'}')? {
            return Some(());
        }
        loop {
            let key = self.plain_str()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            if keep(key) {
                let i = out.slot(Cow::Borrowed(key));
                self.value(depth, &mut out[i].1)?;
            } else {
                self.skip_value(depth)?;
            }
            if !self.next_or_close(b'}')? {
                return Some(());
            }
        }
    }

    /// At `{` or `[`: steps in; `true` if it closes right away (`close`).
    fn open(&mut self, close: u8) -> Option<bool> {
        self.i += 1;
        self.ws();
        let empty = self.peek()? == close;
        if empty {
            self.i += 1;
        }
        Some(empty)
    }

    /// After an element of an object or array: `true` past a comma (another element
    /// follows), `false` past `close` (the end), `None` for anything else.
    fn next_or_close(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        if c != b',' && c != close {
            return None;
        }
        self.i += 1;
        if c == b',' {
            self.ws();
        }
        Some(c == b',')
    }

    /// A value that is read, into `slot`: a string, an unsigned integer, an object
    /// (read for its labels), or anything else as [`Field::Other`].
    fn value(&mut self, depth: usize, slot: &mut Field<'a>) -> Option<()> {
        *slot = match self.peek()? {
            b'"' => Field::Str(self.read_str()?),
            b'{' if depth < MAX_DEPTH => {
                let mut nested: Vec<Entry<'a>> = Vec::new();
                self.object(&mut nested, |k| canonical_label(k).is_some(), depth + 1)?;
                Field::Map(nested)
            }
            b'0'..=b'9' => Field::Num(self.unsigned()?.into()),
            b't' | b'f' | b'n' | b'[' => {
                self.skip_value(depth)?;
                Field::Other
            }
            _ => return None,
        };
        Some(())
    }

    /// A value that is read: [`Scan::value`], with a string without escapes (the common
    /// case) taken here, inline (built through `value`'s out-parameter, the field was
    /// read back before its writes had landed: a store-forwarding stall in the profile).
    #[inline(always)]
    fn read_value(&mut self) -> Option<Field<'a>> {
        if let Some(s) = self.plain_str() {
            return Some(Field::Str(Cow::Borrowed(s)));
        }
        let mut value = Field::Other;
        self.value(1, &mut value)?;
        Some(value)
    }

    /// A value that is read but not used: checked as [`Scan::value`] checks it, built
    /// only where it is not a string without escapes.
    #[inline]
    fn unused_value(&mut self) -> Option<()> {
        if self.plain_str().is_none() {
            let mut value = Field::Other;
            self.value(1, &mut value)?;
        }
        Some(())
    }

    /// An unsigned integer that fits a `u64` (no fraction, no exponent): the number
    /// serde_json reads as one. Anything else is left to it.
    fn unsigned(&mut self) -> Option<u64> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let leading_zero = self.b[start] == b'0' && self.i - start > 1;
        let more = matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        (!leading_zero && !more).then_some(n)
    }

    /// The string at `"`, if it has no escape (then it is the line's own bytes), stepped
    /// over; `None` for any other value (the position stays).
    #[inline]
    fn plain_str(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let end = next_special(self.b, start);
        if *self.b.get(end)? != b'"' {
            return None;
        }
        let s = self.raw.get(start..end)?;
        self.i = end + 1;
        Some(s)
    }

    /// Steps over the string of `len` bytes at the current position, known to be a key
    /// without an escape ([`KnownKey::is_at`]).
    #[inline]
    fn known_key(&mut self, len: usize) -> Option<&'a str> {
        let start = self.i + 1;
        self.i = start + len + 1;
        self.raw.get(start..start + len)
    }

    /// The string at `"`, borrowed when it has no escape, else decoded. An escaped
    /// UTF-16 surrogate (`\ud83d`) is left to serde_json (its pairing rules decide).
    fn read_str(&mut self) -> Option<Cow<'a, str>> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let mut i = next_special(self.b, start);
        if *self.b.get(i)? == b'"' {
            self.i = i + 1;
            return self.raw.get(start..i).map(Cow::Borrowed);
        }
        let mut out = String::with_capacity(i - start + 16);
        out.push_str(self.raw.get(start..i)?);
        loop {
            match *self.b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    let c = match *self.b.get(i + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = std::str::from_utf8(self.b.get(i + 2..i + 6)?).ok()?;
                            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                                return None;
                            }
                            let code = u32::from_str_radix(hex, 16).ok()?;
                            i += 4;
                            // None for a surrogate.
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    out.push(c);
                    i += 2;
                }
                _ => return None,
            }
            let next = next_special(self.b, i);
            out.push_str(self.raw.get(i..next)?);
            i = next;
        }
    }

    /// Skips the string at `"`, checking its escapes as serde_json does when it skips
    /// one (`\u` takes any four hex digits).
    fn skip_str(&mut self) -> Option<()> {
        let mut i = self.i + 1;
        loop {
            i = next_special(self.b, i);
            match *self.b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some(());
                }
                b'\\' => match *self.b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let hex = self.b.get(i + 2..i + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 6;
                    }
                    _ => return None,
                },
                // A control character: not allowed in a JSON string.
                _ => return None,
            }
        }
    }

    /// Skips any value, checking its grammar.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' if depth < MAX_DEPTH => {
                let mut more = !self.open(b'}')?;
                while more {
                    if self.peek()? != b'"' {
                        return None;
                    }
                    self.skip_str()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    self.skip_value(depth + 1)?;
                    more = self.next_or_close(b'}')?;
                }
                Some(())
            }
            b'[' if depth < MAX_DEPTH => {
                let mut more = !self.open(b']')?;
                while more {
                    self.skip_value(depth + 1)?;
                    more = self.next_or_close(b']')?;
                }
                Some(())
            }
            b'-' | b'0'..=b'9' => self.skip_number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn skip_number(&mut self) -> Option<()> {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }
}

/// The first byte from `i` on that ends or interrupts a plain string: `"`, `\` or a
/// control character (below 0x20); `b.len()` if none. Eight bytes at a time: the line's
/// message is most of its bytes.
fn next_special(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let quote = v ^ (ONES * u64::from(b'"'));
        let backslash = v ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set where it is zero (after the xor) or below 0x20; a
        // borrow can flag a byte above the first real one, never below it.
        let hits = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (v.wrapping_sub(ONES * 0x20) & !v);
        let hits = hits & HIGH;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests;
