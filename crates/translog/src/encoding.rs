//! Small text-encoding helpers shared by the line formats (private).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Encodes bytes as standard, padded base64 (RFC 4648 §4), as every C2SP text format uses.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard, padded, canonical base64; `None` on any deviation.
///
/// The `STANDARD` engine already rejects missing padding and non-zero trailing bits, so a
/// value has exactly one accepted spelling, which keeps signed text unambiguous.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Parses an ASCII decimal with no sign and no leading zeros (except `0` itself).
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse::<u64>().ok()
}

/// True when `text` has an ASCII control character other than newline.
///
/// signed-note forbids everything below U+0020 except `\n`.
pub(crate) fn has_forbidden_control(text: &str) -> bool {
    text.chars().any(|character| character < '\u{20}' && character != '\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_strict() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("7", Some(7)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("00", None),
            ("01", None),
            ("", None),
            ("+1", None),
            ("-1", None),
            (" 1", None),
            ("1 ", None),
            ("1_000", None),
        ];
        for (text, expect) in cases {
            assert_eq!(parse_decimal(text), *expect, "input {text:?}");
        }
    }

    #[test]
    fn base64_is_canonical() {
        assert_eq!(base64_decode("AA=="), Some(vec![0]));
        assert_eq!(base64_decode("AA"), None, "padding is required");
        assert_eq!(base64_decode("AB=="), None, "non-zero trailing bits are rejected");
        assert_eq!(base64_decode("A A="), None);
    }
}
