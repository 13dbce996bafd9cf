//! Evidence cited by decisions, directives and appeals, and who may see it.
//!
//! A document is stored once, by its SHA-256 (the gateway's evidence store); a citation names the
//! digest, says what the document is and sets its disclosure level. The digest is public even
//! when the document is not, so a court or a watchdog can later check that what is produced is
//! what was relied on.

use serde::{Deserialize, Serialize};

/// Who may read a cited document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "disclosure", rename_all = "snake_case")]
pub enum Disclosure {
    /// Anyone, including the public register.
    #[serde(alias = "disclosed")]
    Public,
    /// The subject of the action (the customer concerned) and the authorities.
    Subject,
    /// Authorities only.
    Authorities,
    /// Nobody outside the issuing authority; the reason is published.
    Withheld {
        /// Why (e.g. classified).
        reason: String,
    },
}

impl Disclosure {
    /// The level's name: `public`, `subject`, `authorities`, `withheld`.
    pub fn name(&self) -> &'static str {
        match self {
            Disclosure::Public => "public",
            Disclosure::Subject => "subject",
            Disclosure::Authorities => "authorities",
            Disclosure::Withheld { .. } => "withheld",
        }
    }

    /// Whether a viewer may read the document.
    pub fn visible_to(&self, viewer: Viewer) -> bool {
        match self {
            Disclosure::Public => true,
            Disclosure::Subject => matches!(viewer, Viewer::Subject | Viewer::Authority),
            Disclosure::Authorities | Disclosure::Withheld { .. } => matches!(viewer, Viewer::Authority),
        }
    }
}

/// Who is asking to read evidence, relative to the action that cites it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// Anyone (no credential, the provider, or another customer).
    Public,
    /// The customer the action concerns.
    Subject,
    /// An official of any authority.
    Authority,
}

/// One cited item of evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What the document is.
    pub description: String,
    /// SHA-256 of the document, lowercase hex. Required unless withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Who may read it.
    #[serde(flatten)]
    pub disclosure: Disclosure,
}

impl Evidence {
    /// A withheld item: what it is and why it is withheld.
    pub fn withheld(description: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            sha256: None,
            disclosure: Disclosure::Withheld { reason: reason.into() },
        }
    }

    /// Checks the fields, naming the first problem.
    ///
    /// # Errors
    ///
    /// Returns the message when the description is empty, the digest is not 64 lowercase hex
    /// digits, a disclosed item has no digest, or a withheld item has no reason.
    pub fn check(&self) -> Result<(), String> {
        if self.description.trim().is_empty() {
            return Err("evidence description is required".to_owned());
        }
        match &self.sha256 {
            Some(digest) if !is_sha256_hex(digest) => {
                return Err(format!("evidence sha256 `{digest}` must be 64 lowercase hex digits"));
            }
            None if !matches!(self.disclosure, Disclosure::Withheld { .. }) => {
                return Err(format!(
                    "evidence `{}` is disclosed ({}) and needs the sha256 of an uploaded document",
                    self.description,
                    self.disclosure.name()
                ));
            }
            _ => {}
        }
        if let Disclosure::Withheld { reason } = &self.disclosure
            && reason.trim().is_empty()
        {
            return Err(format!("withheld evidence `{}` needs a reason", self.description));
        }
        Ok(())
    }
}

/// Whether `text` is a SHA-256 digest in lowercase hex.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_flat_and_old_disclosed_records_still_read() {
        let item = Evidence {
            description: "assessment".to_owned(),
            sha256: None,
            disclosure: Disclosure::Withheld { reason: "classified".to_owned() },
        };
        let json = serde_json::to_string(&item).unwrap();
        assert_eq!(json, r#"{"description":"assessment","disclosure":"withheld","reason":"classified"}"#);
        assert_eq!(serde_json::from_str::<Evidence>(&json).unwrap(), item);
        let old: Evidence = serde_json::from_str(&format!(
            r#"{{"disclosure":"disclosed","description":"d","sha256":"{}"}}"#,
            "a".repeat(64)
        ))
        .unwrap();
        assert_eq!(old.disclosure, Disclosure::Public);
    }

    #[test]
    fn visibility_by_level() {
        let cases = [
            (Disclosure::Public, [true, true, true]),
            (Disclosure::Subject, [false, true, true]),
            (Disclosure::Authorities, [false, false, true]),
            (Disclosure::Withheld { reason: "r".to_owned() }, [false, false, true]),
        ];
        for (level, expected) in cases {
            let seen = [Viewer::Public, Viewer::Subject, Viewer::Authority].map(|v| level.visible_to(v));
            assert_eq!(seen, expected, "{level:?}");
        }
    }

    #[test]
    fn checks_name_the_problem() {
        let digest = "b".repeat(64);
        let cases: [(Option<&str>, Disclosure, Result<(), &str>); 4] = [
            (Some(&digest), Disclosure::Public, Ok(())),
            (
                None,
                Disclosure::Subject,
                Err("evidence `d` is disclosed (subject) and needs the sha256 of an uploaded document"),
            ),
            (Some("ABC"), Disclosure::Public, Err("evidence sha256 `ABC` must be 64 lowercase hex digits")),
            (None, Disclosure::Withheld { reason: " ".to_owned() }, Err("withheld evidence `d` needs a reason")),
        ];
        for (sha256, disclosure, expected) in cases {
            let item = Evidence { description: "d".to_owned(), sha256: sha256.map(str::to_owned), disclosure };
            assert_eq!(item.check(), expected.map_err(str::to_owned));
        }
    }
}
