//! What can go wrong with the store, typed so that the link can tell a full or read-only
//! disk (fall back to memory, alert) from a store that another bridge holds.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("offline store {}: in use by another process{}", .dir.display(), held_by(*.pid))]
    Locked { dir: PathBuf, pid: Option<u32> },
    #[error("offline store {}: cannot {op}: {source}", .path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "offline store {}: holds messages of robot `{found}`, not `{expected}`: give each robot a directory of its own (`{{robot_id}}` in mqtt.offline_store.path)",
        .dir.display()
    )]
    Foreign {
        dir: PathBuf,
        found: String,
        expected: String,
    },
    #[error("offline store {}: the owner name is longer than {max} bytes", .dir.display())]
    OwnerTooLong { dir: PathBuf, max: usize },
    #[error("offline store {}: its thread ended", .dir.display())]
    Stopped { dir: PathBuf },
    #[error("offline store {}: not written any more since an earlier error: {cause}", .dir.display())]
    Failed { dir: PathBuf, cause: String },
}

fn held_by(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

impl StoreError {
    pub fn io(path: impl Into<PathBuf>, op: &'static str) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, op, source }
    }

    fn os_error(&self) -> Option<i32> {
        match self {
            StoreError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The disk (or the user's quota) is full.
    pub fn is_no_space(&self) -> bool {
        matches!(self.os_error(), Some(libc::ENOSPC | libc::EDQUOT))
    }

    /// The file system is mounted read-only, or the directory may not be written.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self.os_error(),
            Some(libc::EROFS | libc::EACCES | libc::EPERM)
        )
    }
}
