//! Values read from files and read again when the files change: JWT keys, TLS certificates.
//!
//! Kubernetes updates a mounted Secret by swapping a symlink, so files are compared by their
//! modification time and length (through the link) every interval, and a change that does not
//! load (a half-written rotation) keeps the old value and says so in the log.

use std::{
    path::PathBuf,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

/// A value loaded from `files`, reloaded when any of them changes.
pub struct Watched<T> {
    current: Arc<RwLock<Arc<T>>>,
}

impl<T> Clone for Watched<T> {
    fn clone(&self) -> Self {
        Self {
            current: self.current.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Watched<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched").finish_non_exhaustive()
    }
}

type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(files: &[PathBuf]) -> Stamp {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

impl<T: Send + Sync + 'static> Watched<T> {
    /// A value that never changes.
    pub fn fixed(value: T) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(value))),
        }
    }

    /// Loads the value now (an error stops here), then checks `files` every `interval` from a
    /// background task that ends when the last clone is dropped. Must be called inside a tokio
    /// runtime when `interval` is not zero.
    pub fn load<E, F>(
        what: &'static str,
        files: Vec<PathBuf>,
        interval: Duration,
        load: F,
    ) -> Result<Self, E>
    where
        E: std::fmt::Display,
        F: Fn(&[PathBuf]) -> Result<T, E> + Send + Sync + 'static,
    {
        let mut seen = stamp(&files);
        let watched = Self::fixed(load(&files)?);
        if interval.is_zero() || files.is_empty() {
            return Ok(watched);
        }
        let weak = Arc::downgrade(&watched.current);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(current) = weak.upgrade() else {
                    return;
                };
                let now = stamp(&files);
                if now == seen {
                    continue;
                }
                match load(&files) {
                    Ok(value) => {
                        if let Ok(mut slot) = current.write() {
                            *slot = Arc::new(value);
                        }
                        seen = now;
                        tracing::info!(what, "reloaded after its files changed");
                    }
                    Err(error) => {
                        tracing::warn!(what, %error, "files changed but do not load; keeping the previous value");
                    }
                }
            }
        });
        Ok(watched)
    }

    /// The value now.
    pub fn get(&self) -> Arc<T> {
        match self.current.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_changed_file_is_read_again_and_a_broken_one_keeps_the_old_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v");
        std::fs::write(&path, "1").expect("write");
        let read = |files: &[PathBuf]| -> Result<u32, String> {
            let text = std::fs::read_to_string(&files[0]).map_err(|e| e.to_string())?;
            text.trim()
                .parse()
                .map_err(|e: std::num::ParseIntError| e.to_string())
        };
        let w = Watched::load("test", vec![path.clone()], Duration::from_millis(20), read)
            .expect("loads");
        assert_eq!(*w.get(), 1);
        std::fs::write(&path, "22").expect("write");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while *w.get() != 22 {
            assert!(tokio::time::Instant::now() < deadline, "reloaded in time");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        std::fs::write(&path, "not a number").expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*w.get(), 22, "a broken file keeps the old value");
    }
}
