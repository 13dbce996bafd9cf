//! Validated identifiers and time.
//!
//! Every identifier that crosses the core's boundary is parsed once into a newtype with a private
//! field, so the rest of the core never re-checks a string (STYLE.md 13, "parse, don't validate").

use std::fmt;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use crate::error::InvalidValueError;

/// Defines a string identifier newtype with a `parse` constructor and an `as_str` getter.
///
/// The allowed alphabet is deliberately narrow (ASCII letters, digits and `-_.:/`) so identifiers
/// can appear in URLs, Cedar entity ids, log entries and error messages without escaping.
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        // `SmolStr`, not `String`: ids are copied into many records (a key names its customer, a
        // grant its model) and read on the request path. Up to 23 bytes (nearly every id) the
        // text is held in the record itself, so a copy allocates nothing and reading it costs no
        // cache miss of its own; a longer one is shared behind an `Arc`, not copied.
        pub struct $name(smol_str::SmolStr);

        impl $name {
            /// Parses an identifier.
            ///
            /// # Errors
            ///
            /// Returns an error naming the problem when the text is empty, too long or holds a
            /// character outside ASCII letters, digits and `-_.:/`.
            pub fn parse(text: &str) -> Result<Self, InvalidValueError> {
                check_id(text, $what, $max).map(|()| Self(smol_str::SmolStr::new(text)))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValueError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                check_id(&text, $what, $max).map(|()| Self(smol_str::SmolStr::new(text)))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.as_str().to_owned()
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

string_id!(
    /// A customer (an organisation holding API keys), e.g. `acme`.
    CustomerId, "customer id", 64
);
string_id!(
    /// The name clients use for a model, e.g. `frontier-5.6`.
    ModelName, "model name", 128
);
string_id!(
    /// A directive's id, e.g. `EC-2026-001`.
    DirectiveId, "directive id", 64
);
string_id!(
    /// The public id of an API key (not the key itself), e.g. `key_3f9a…`.
    KeyId, "key id", 64
);
string_id!(
    /// An authority (an agency), e.g. `bis`.
    AuthorityId, "authority id", 64
);
string_id!(
    /// A named official of an authority, e.g. `j.doe`.
    OfficialName, "official name", 64
);
string_id!(
    /// The id of a role token (not the token itself).
    TokenId, "token id", 64
);
string_id!(
    /// A trusted attester of end-user attributes, e.g. `idv-demo`.
    AttesterId, "attester id", 64
);
string_id!(
    /// The id of one of an attester's public keys, e.g. `2026-q1`; unique per attester.
    AttesterKeyId, "attester key id", 64
);

string_id!(
    /// An application for access to a model, e.g. `app_3f9a…`.
    ApplicationId, "application id", 64
);
string_id!(
    /// An appeal, e.g. `apl_3f9a…`.
    AppealId, "appeal id", 64
);

fn check_id(text: &str, what: &str, max: usize) -> Result<(), InvalidValueError> {
    if text.is_empty() {
        return Err(InvalidValueError::new(format!("{what} is empty")));
    }
    if text.len() > max {
        return Err(InvalidValueError::new(format!(
            "{what} `{}…` is longer than {max} characters",
            text.chars().take(16).collect::<String>()
        )));
    }
    if let Some(bad) = text.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))) {
        return Err(InvalidValueError::new(format!(
            "{what} `{text}` contains `{bad}`; use letters, digits and `-_.:/`"
        )));
    }
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(InvalidValueError::new(format!("{what} `{text}` must start with a letter or digit")));
    }
    Ok(())
}

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// The core never reads a clock; callers pass `now` in (STYLE.md 2).
///
/// Held as the milliseconds' bits with the sign bit flipped, in a `NonZeroU64`: so an
/// `Option<Timestamp>` takes 8 bytes rather than 16 (a grant holds two, and there may be ten
/// million grants), and the derived order is still the order in time (flipping the sign bit
/// maps the signed order onto the unsigned one). The one value it cannot hold, `i64::MIN`
/// milliseconds (292 million years before the epoch), becomes the next one up.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(NonZeroU64);

/// The sign bit, flipped in [`Timestamp`]'s representation.
const SIGN_BIT: u64 = 1 << 63;

impl Timestamp {
    /// A timestamp from milliseconds since the Unix epoch (`i64::MIN` saturates to one more).
    pub const fn from_millis(millis: i64) -> Self {
        match NonZeroU64::new(millis.cast_unsigned() ^ SIGN_BIT) {
            Some(bits) => Self(bits),
            None => Self(NonZeroU64::MIN),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        (self.0.get() ^ SIGN_BIT).cast_signed()
    }

    /// This time plus a number of milliseconds (saturating).
    #[must_use]
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self::from_millis(self.as_millis().saturating_add(millis))
    }

    /// Parses RFC 3339, e.g. `2026-11-27T17:21:00Z`, `2026-11-27T17:21:00.5+01:00`.
    ///
    /// # Errors
    ///
    /// Returns an error naming the text when it is not an RFC 3339 date-time.
    pub fn parse_rfc3339(text: &str) -> Result<Self, InvalidValueError> {
        parse_rfc3339(text).ok_or_else(|| {
            InvalidValueError::new(format!("`{text}` is not an RFC 3339 date-time like `2026-11-27T17:21:00Z`"))
        })
    }

    /// Formats as RFC 3339 UTC with second precision, e.g. `2026-11-27T17:21:00Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.as_millis().div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Timestamp").field(&self.as_millis()).finish()
    }
}

// Milliseconds as a number, as before the representation changed: stored events and checkpoints
// hold them so.
impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.as_millis())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        i64::deserialize(deserializer).map(Self::from_millis)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded: String = fraction.get(..digits)?.chars().chain(std::iter::repeat('0')).take(3).collect();
        millis = padded.parse::<i64>().ok()?;
        rest = fraction.get(digits..)?;
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.get(3..4)? != ":" {
                return None;
            }
            sign * (rest.get(1..3)?.parse::<i64>().ok()? * 60 + rest.get(4..6)?.parse::<i64>().ok()?)
        }
    };
    let days = days_from_civil(year, month, day);
    if civil_from_days(days) != (year, month, day) {
        return None;
    }
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(Timestamp::from_millis(seconds * 1000 + millis))
}

/// (year, month, day) to days since 1970-01-01; the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
///
/// Howard Hinnant's `civil_from_days`; written out here rather than pulling a date crate into
/// the core for one formatting function.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The SHA-256 of a secret (API key or role token). Only this is stored; the secret is shown once.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes a presented secret.
    ///
    /// A plain SHA-256 is enough here because the secrets are 256-bit random values, not
    /// passwords: there is nothing to brute-force, and the request path needs a fast lookup.
    pub fn of_secret(secret: &str) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(secret.as_bytes()).into())
    }

    /// Parses the lowercase hex form used in storage.
    ///
    /// # Errors
    ///
    /// Returns an error when the text is not 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, InvalidValueError> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(InvalidValueError::new("secret hash is not 64 hex digits".to_owned()));
        }
        let mut out = [0_u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hex = std::str::from_utf8(pair).ok().and_then(|s| u8::from_str_radix(s, 16).ok());
            *slot = hex.ok_or_else(|| InvalidValueError::new("secret hash is not 64 hex digits".to_owned()))?;
        }
        Ok(Self(out))
    }

    /// The 32 bytes (a state checkpoint stores them as they are).
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A hash from its 32 bytes.
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The lowercase hex form used in storage.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// The first eight bytes, which the state files the key under (SHA-256 output is uniform).
    pub(crate) fn index_hash(&self) -> u64 {
        let [a, b, c, d, e, f, g, h, ..] = self.0;
        u64::from_le_bytes([a, b, c, d, e, f, g, h])
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Even the hash stays out of debug output and logs.
        f.write_str("SecretHash(..)")
    }
}

impl Serialize for SecretHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: Result<(), &str>) {
        let got = CustomerId::parse(input).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(got, expect.map_err(str::to_owned));
    }

    #[test]
    fn timestamps_keep_their_order_value_and_encoding_in_eight_bytes() {
        assert_eq!(std::mem::size_of::<Option<Timestamp>>(), 8);
        let millis = [i64::MIN + 1, -86_400_000, -1, 0, 1, 1_795_800_000_000, i64::MAX];
        for (i, a) in millis.iter().enumerate() {
            let t = Timestamp::from_millis(*a);
            assert_eq!(t.as_millis(), *a);
            assert_eq!(serde_json::to_string(&t).unwrap(), a.to_string());
            assert_eq!(serde_json::from_str::<Timestamp>(&a.to_string()).unwrap(), t);
            assert_eq!(format!("{t:?}"), format!("Timestamp({a})"));
            for b in &millis[i..] {
                assert_eq!(t.cmp(&Timestamp::from_millis(*b)), a.cmp(b), "{a} against {b}");
            }
        }
        // The one value without a representation saturates, as `plus_millis` does.
        assert_eq!(Timestamp::from_millis(i64::MIN).as_millis(), i64::MIN + 1);
        assert_eq!(Timestamp::from_millis(0).plus_millis(i64::MIN).as_millis(), i64::MIN + 1);
        assert_eq!(Timestamp::from_millis(1).plus_millis(i64::MAX).as_millis(), i64::MAX);
    }

    #[test]
    fn customer_ids() {
        check("acme", Ok(()));
        check("acme-corp.eu_1", Ok(()));
        check("", Err("customer id is empty"));
        check("a b", Err("customer id `a b` contains ` `; use letters, digits and `-_.:/`"));
        check("-x", Err("customer id `-x` must start with a letter or digit"));
        check(&"a".repeat(65), Err("customer id `aaaaaaaaaaaaaaaa…` is longer than 64 characters"));
    }

    #[test]
    fn ids_of_every_length_keep_their_text_whether_held_inline_or_not() {
        // 23 bytes is the longest held inline; 24 and 64 are shared behind a pointer.
        for len in [1, 22, 23, 24, 64] {
            let text = "k".repeat(len);
            let id = KeyId::parse(&text).unwrap();
            assert_eq!(id.as_str(), text);
            assert_eq!(id.to_string(), text);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            let back: KeyId = serde_json::from_str(&json).unwrap();
            assert_eq!(back, id);
            assert_eq!(String::from(back.clone()), text);
            // Maps keyed by an id are looked up with `&str` (`Borrow<str>`): the hashes must agree.
            let mut map = std::collections::HashMap::new();
            map.insert(back, len);
            assert_eq!(map.get(text.as_str()), Some(&len));
        }
        assert!(serde_json::from_str::<KeyId>("\"a b\"").is_err());
    }

    #[test]
    fn rfc3339() {
        assert_eq!(Timestamp::from_millis(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_millis(1_795_800_060_000).to_rfc3339(), "2026-11-27T17:21:00Z");
        assert_eq!(Timestamp::from_millis(951_782_400_000).to_rfc3339(), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn rfc3339_parsing() {
        let table: &[(&str, Option<i64>)] = &[
            ("2026-11-27T17:21:00Z", Some(1_795_800_060_000)),
            ("2026-11-27T18:21:00+01:00", Some(1_795_800_060_000)),
            ("2026-11-27T17:21:00.25Z", Some(1_795_800_060_250)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2026-02-30T00:00:00Z", None),
            ("2026-11-27 17:21", None),
            ("2026-11-27T17:21:00", None),
            ("tomorrow", None),
        ];
        for (text, expect) in table {
            assert_eq!(Timestamp::parse_rfc3339(text).ok().map(Timestamp::as_millis), *expect, "{text}");
        }
    }

    #[test]
    fn secret_hash_round_trip() {
        let hash = SecretHash::of_secret("pk_test");
        assert_eq!(SecretHash::from_hex(&hash.to_hex()).unwrap(), hash);
        assert!(SecretHash::from_hex("zz").is_err());
        assert_eq!(format!("{hash:?}"), "SecretHash(..)");
    }
}
