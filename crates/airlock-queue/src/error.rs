//! Errors of the queue seam. Each names the queue server or the object involved.

/// Everything that can go wrong talking to the queue engine.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("unsupported queue URL {url:?} (expected nats://host:port)")]
    UnsupportedUrl { url: String },
    #[error("cannot connect to the queue {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("the queue {url} is full ({detail}); retry later")]
    Full { url: String, detail: String },
    #[error("queue {url}: {action}: {detail}")]
    Engine {
        url: String,
        action: &'static str,
        detail: String,
    },
    #[error("queue {url}: the upload {name} is gone")]
    BlobGone { url: String, name: String },
}

impl QueueError {
    /// The queue refused a job because it is at its bound (HTTP 429).
    pub fn is_full(&self) -> bool {
        matches!(self, QueueError::Full { .. })
    }
}
