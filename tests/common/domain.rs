//! ROS domain ids, handed out by the harness so that no two tests running at the same time
//! share a DDS domain: not the threads of one test binary, and not another copy of the test
//! suite running from another clone on this machine.
//!
//! An id is taken by holding an exclusive lock (flock) on `/tmp/amr_bridge_domains/<id>`; the
//! file holds the PID of the holder, for people looking. The lock goes when the `Domain` is
//! dropped, and the kernel drops it when the process dies however it dies (a killed test
//! binary leaves nothing to clean up, and a PID that is reused by another process cannot keep
//! an id taken). Lock files are never removed: removing one while another process opens it
//! would let two processes lock two different files of the same name.
//!
//! Ids are 1..=100 (Fast DDS on Linux: higher ids may collide with ephemeral ports), never 0
//! (everyone's default) nor 42 (scripts/demo), tried from the top down: away from the ids
//! written by hand in copies of the suite from before this harness (6..=84) and in bench/
//! (70..=74), which may still run on the same machine.

use std::fs::{File, OpenOptions, Permissions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the lock files are.
const DIR: &str = "/tmp/amr_bridge_domains";

/// The ids the harness may hand out, tried in this order.
fn candidates() -> impl Iterator<Item = u32> {
    (1..=100).rev().filter(|&id| id != 42)
}

/// How long `Domain::new` waits for an id when every one is taken.
const WAIT: Duration = Duration::from_secs(300);

/// A ROS domain id that is this test's own while the value lives. Declare it before every
/// process that runs in it (locals drop in reverse order, so the id is released last).
#[derive(Debug)]
pub struct Domain {
    id: u32,
    /// Holds the lock; closing the file releases it.
    _lock: File,
}

impl Domain {
    /// The next free id; waits while every id is taken.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Domain {
        super::require_env();
        if std::fs::create_dir(DIR).is_ok() {
            // Shared by every user of the machine, like /tmp.
            let _ = std::fs::set_permissions(DIR, Permissions::from_mode(0o1777));
        }
        assert!(Path::new(DIR).is_dir(), "{DIR} is not a directory");
        let end = Instant::now() + WAIT;
        loop {
            if let Some(d) = candidates().find_map(|id| Domain::take(Path::new(DIR), id)) {
                return d;
            }
            assert!(
                Instant::now() < end,
                "no free ROS domain id for {WAIT:?}: every id in {DIR} is locked"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `id` if no one holds it.
    fn take(dir: &Path, id: u32) -> Option<Domain> {
        let path: PathBuf = dir.join(id.to_string());
        // Another user's file may be read-only for us: flock needs no write access.
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o666)
            .open(&path)
            .or_else(|_| File::open(&path))
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return None,
            Err(TryLockError::Error(e)) => panic!("lock {}: {e}", path.display()),
        }
        // Ours now: say who holds it (best effort, the lock is what counts).
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Some(Domain { id, _lock: file })
    }

    /// The id, for ROS_DOMAIN_ID.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.id)
    }
}

/// A domain of the test's own: `Domain::new()`.
pub fn domain() -> Domain {
    Domain::new()
}
