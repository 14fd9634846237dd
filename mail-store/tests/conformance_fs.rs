//! The conformance suite against `FsStore`, each store in a fresh directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mail_store::Store;
use mail_store::fs::FsStore;

/// Temporary directories for one test binary, removed when it finishes.
struct TempRoot(PathBuf);

impl TempRoot {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rampart-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
        Self(dir)
    }

    fn fresh(&self) -> PathBuf {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        self.0
            .join(COUNT.fetch_add(1, Ordering::Relaxed).to_string())
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs_store_conforms() {
    let root = Arc::new(TempRoot::new("conformance"));
    mail_store::conformance::run(|| {
        let dir = root.fresh();
        async move { Arc::new(FsStore::open(dir).expect("a fresh store opens")) as Arc<dyn Store> }
    })
    .await
}
