//! The log's signing key: read from a file, or created there on first start.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use portcullis_translog::NoteSigner;
use rand::RngCore as _;

/// Loads the signer from `path`, or creates a new key there (mode 0600) if the file is absent.
///
/// # Errors
///
/// Fails when the file cannot be read or written, does not hold a key, or holds a key for
/// another origin (a log's key name is its origin; changing it would fork the log).
pub fn load_or_create_signer(path: &Path, origin: &str) -> anyhow::Result<NoteSigner> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the log key `{}`", path.display()))?;
        let signer = NoteSigner::parse(text.trim())
            .map_err(|err| anyhow::anyhow!("`{}` does not hold a log signing key: {err}", path.display()))?;
        if signer.name() != origin {
            anyhow::bail!(
                "the log key in `{}` is for origin `{}` but the configured origin is `{origin}`",
                path.display(),
                signer.name()
            );
        }
        return Ok(signer);
    }
    let mut seed = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let signer = NoteSigner::from_seed(origin, &seed)
        .map_err(|err| anyhow::anyhow!("`{origin}` cannot be a log origin: {err}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("failed to create the log key `{}`", path.display()))?;
    file.write_all(format!("{}\n", signer.to_private_key_string()).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write the log key `{}`", path.display()))?;
    tracing::info!(origin, path = %path.display(), "created a new transparency log signing key");
    Ok(signer)
}
