//! Images a Pod shows its model: stored once as content-addressed blobs beside the
//! session logs (the log holds only an [`ImageRef`]), read back and base64-encoded
//! when a request needs them, and kept encoded in memory while the Pod lives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use session_store::SessionStore;
use tools::ToolImage;
use transcript::{ImageRef, Item};

/// The blob store and the encoded images already loaded.
pub struct Images {
    sessions: Option<SessionStore>,
    encoded: Mutex<HashMap<String, Arc<str>>>,
}

impl Images {
    /// Images kept under `sessions` (`None`: nowhere, for tests without a store;
    /// images are then refused).
    pub fn new(sessions: Option<SessionStore>) -> Images {
        Images {
            sessions,
            encoded: Mutex::new(HashMap::new()),
        }
    }

    fn encoded(&self) -> MutexGuard<'_, HashMap<String, Arc<str>>> {
        // Only a cache: a panic mid-insert leaves nothing inconsistent.
        self.encoded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores an image durably and returns the reference the log will hold.
    pub fn store(&self, image: &ToolImage) -> Result<ImageRef, String> {
        let sessions = self
            .sessions
            .as_ref()
            .ok_or("this Pod has no store for images")?;
        let sha256 = sessions
            .put_blob(&image.data)
            .map_err(|e| format!("the image could not be stored: {e}"))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&image.data);
        self.encoded().insert(sha256.clone(), Arc::from(b64));
        Ok(ImageRef {
            sha256,
            media_type: image.media_type.clone(),
            bytes: image.data.len() as u64,
            source: image.source.clone(),
        })
    }

    /// The encoded bytes of every image `history` shows, for a request. An image
    /// whose blob is gone is left out (the request then says so in its place) and
    /// logged; it never fails the run.
    pub fn for_request(&self, history: &[Item]) -> HashMap<String, Arc<str>> {
        let mut out = HashMap::new();
        for item in history {
            let Item::Image { image } = item else {
                continue;
            };
            if out.contains_key(&image.sha256) {
                continue;
            }
            if let Some(b64) = self.encoded().get(&image.sha256) {
                out.insert(image.sha256.clone(), b64.clone());
                continue;
            }
            let loaded = self.sessions.as_ref().map(|s| s.blob(&image.sha256));
            match loaded {
                Some(Ok(Some(bytes))) => {
                    let b64: Arc<str> =
                        Arc::from(base64::engine::general_purpose::STANDARD.encode(bytes));
                    self.encoded().insert(image.sha256.clone(), b64.clone());
                    out.insert(image.sha256.clone(), b64);
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, sha256 = %image.sha256, "image blob unreadable")
                }
                Some(Ok(None)) | None => {
                    tracing::warn!(sha256 = %image.sha256, "image blob missing")
                }
            }
        }
        out
    }
}
