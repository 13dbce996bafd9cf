//! Where `portcullis verify` reads the log from: a URL prefix over HTTP (optionally copying
//! every file it fetches into a mirror directory) or a directory laid out like the URL space.
//!
//! Both answer the translog [`TileSource`] trait, which is synchronous. The HTTP side therefore
//! owns a current-thread runtime and blocks on each request; the verification code calling
//! [`TileSource::fetch`] is plain synchronous code, never inside an async fn, so `block_on`
//! cannot nest. Prefetching every tile up front was the rejected alternative: which tiles the
//! verifier needs (partial or full, which parents) is the library's decision, and a prefetch
//! list would duplicate it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use portcullis_translog::tree::BoxError;
use portcullis_translog::verify::TileSource;
use reqwest::StatusCode;

/// The checkpoint's path relative to the log prefix (c2sp.org/tlog-tiles).
pub const CHECKPOINT_PATH: &str = "checkpoint";

/// How long to wait for a TCP connection to the log. A log that does not accept within this
/// time is down or unreachable, and failing fast beats a verifier that hangs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request (a checkpoint, a tile, an entry bundle) may take in total. The largest
/// file is a full entry bundle of about 16 MiB; a minute covers that on a slow link.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest response body accepted. A full entry bundle is at most 256 entries of 65,535 bytes,
/// each with a 2-byte length prefix; anything bigger is not a log file, and reading it whole
/// would let a hostile server exhaust memory.
const MAX_BODY_BYTES: usize = 256 * (65_535 + 2);

/// A log to verify: over HTTP or from a directory.
pub enum LogSource {
    /// `<prefix>/checkpoint`, `<prefix>/tile/…` over HTTP.
    Http(HttpSource),
    /// `<dir>/checkpoint`, `<dir>/tile/…` on disk.
    Dir(DirSource),
}

impl LogSource {
    /// Where `path` is read from, for messages: a URL or a file name.
    pub fn location(&self, path: &str) -> String {
        match self {
            Self::Http(http) => http.url(path),
            Self::Dir(dir) => dir.file(path).display().to_string(),
        }
    }

    /// The signed checkpoint note, as text.
    ///
    /// # Errors
    ///
    /// When it cannot be fetched, is absent or is not UTF-8; the message names where from.
    pub fn checkpoint(&self) -> anyhow::Result<String> {
        let location = self.location(CHECKPOINT_PATH);
        let bytes = self
            .fetch(CHECKPOINT_PATH)
            // The error names the URL or file already.
            .map_err(|error| anyhow::anyhow!(error))?
            .ok_or_else(|| anyhow::anyhow!("`{location}` does not exist (has the log signed a checkpoint yet?)"))?;
        String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("`{location}` is not UTF-8 text"))
    }
}

impl TileSource for LogSource {
    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, BoxError> {
        match self {
            Self::Http(http) => http.fetch(path),
            Self::Dir(dir) => dir.fetch(path),
        }
    }
}

/// A log served over HTTP at a URL prefix, with an optional mirror directory.
pub struct HttpSource {
    /// Drives the requests; current-thread because requests are made one at a time.
    runtime: tokio::runtime::Runtime,
    /// The pooled client: one connection is reused across the many tile requests.
    client: reqwest::Client,
    /// The log prefix without a trailing slash, e.g. `http://127.0.0.1:8080/log`.
    prefix: String,
    /// Where every fetched file is also written, in the URL layout.
    mirror: Option<PathBuf>,
}

impl HttpSource {
    /// A source for the log at `prefix`, copying what it fetches into `mirror` if given.
    ///
    /// # Errors
    ///
    /// When `prefix` is not an `http://` or `https://` URL, or the runtime or client cannot be
    /// set up.
    pub fn new(prefix: &str, mirror: Option<PathBuf>) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(prefix)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host() && !url.cannot_be_a_base())
            .ok_or_else(|| anyhow::anyhow!("--url `{prefix}` is not an http:// or https:// URL"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("failed to start the async runtime")?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("portcullis-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("failed to set up the HTTP client")?;
        Ok(Self { runtime, client, prefix: parsed.as_str().trim_end_matches('/').to_owned(), mirror })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.prefix)
    }

    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, BoxError> {
        let url = self.url(path);
        // Plain synchronous context (see the module doc): no runtime is running on this thread.
        let body = self.runtime.block_on(get(&self.client, &url))?;
        if let (Some(body), Some(mirror)) = (&body, &self.mirror) {
            write_atomically(&mirror_file(mirror, path), body)?;
        }
        Ok(body)
    }
}

/// Writes `text` to `file` atomically (for `--save-checkpoint`).
///
/// # Errors
///
/// When the file or its directory cannot be written.
pub fn save_file(file: &Path, text: &str) -> anyhow::Result<()> {
    write_atomically(file, text.as_bytes())
}

/// A log copied into a directory: `<dir>/checkpoint`, `<dir>/tile/…`.
pub struct DirSource {
    /// The directory.
    dir: PathBuf,
}

impl DirSource {
    /// A source reading from `dir`.
    ///
    /// # Errors
    ///
    /// When `dir` is not a directory.
    pub fn new(dir: PathBuf) -> anyhow::Result<Self> {
        if !dir.is_dir() {
            anyhow::bail!("--dir `{}` is not a directory", dir.display());
        }
        Ok(Self { dir })
    }

    fn file(&self, path: &str) -> PathBuf {
        mirror_file(&self.dir, path)
    }

    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, BoxError> {
        let file = self.file(path);
        match std::fs::read(&file) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(anyhow::Error::new(error).context(format!("failed to read `{}`", file.display())).into()),
        }
    }
}

/// `GET url`: the body, `None` on 404, an error naming the URL otherwise.
async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<Option<Vec<u8>>> {
    // The URL is in our message already; reqwest would repeat it.
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("GET `{url}` failed"))?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        anyhow::bail!("GET `{url}` answered {status}");
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(reqwest::Error::without_url).with_context(|| format!("GET `{url}` failed"))?
    {
        if body.len().saturating_add(chunk.len()) > MAX_BODY_BYTES {
            anyhow::bail!("GET `{url}` answered more than {MAX_BODY_BYTES} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The file for log path `path` (`/`-separated, made by the translog library, never by a
/// server) under `dir`.
fn mirror_file(dir: &Path, path: &str) -> PathBuf {
    path.split('/').fold(dir.to_path_buf(), |file, component| file.join(component))
}

/// Writes `bytes` to `file` through a temporary file and a rename, so an interrupted mirror
/// never holds a truncated tile that a later offline run would report as tampering.
fn write_atomically(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let parent = file.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
    let mut temporary = file.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).with_context(|| format!("failed to write `{}`", temporary.display()))?;
    std::fs::rename(&temporary, file).with_context(|| format!("failed to write `{}`", file.display()))
}
