//! One bridge per store: an exclusive `flock` on `<dir>/LOCK`, held for the store's life.
//! The kernel drops it when the process ends however it ends (SIGKILL included), so a crash
//! never leaves a stale lock. The holder writes its pid into the file, so that a refused
//! second bridge can name it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use super::StoreError;

pub const LOCK_FILE: &str = "LOCK";

/// How long a lock held under our own pid is waited for, and how often it is tried.
const SELF_WAIT: Duration = Duration::from_secs(2);
const SELF_POLL: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub struct DirLock {
    // Closing the file releases the lock.
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(StoreError::io(&path, "open the lock file"))?;
        let mut waited = Duration::ZERO;
        loop {
            // SAFETY: flock on a descriptor that `file` owns and keeps open.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(StoreError::io(path, "lock the lock file")(e));
            }
            let pid = holder(&mut file);
            // Held under our own pid: a store of ours just closed, whose descriptor a child
            // process being started (between its fork and its exec) still shares for a
            // moment. Anything else holds it for good.
            if pid != Some(std::process::id()) || waited >= SELF_WAIT {
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    pid,
                });
            }
            std::thread::sleep(SELF_POLL);
            waited += SELF_POLL;
        }
        // Only for the message of a bridge refused later: a full disk must not cost the lock.
        if let Err(e) = write_pid(&mut file) {
            log::debug!("offline store {}: pid not written: {e}", path.display());
        }
        Ok(DirLock { _file: file })
    }
}

fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Overwrites in place before cutting: on a full disk the file's old block is reused.
fn write_pid(file: &mut File) -> std::io::Result<()> {
    let line = format!("{}\n", std::process::id());
    file.seek(SeekFrom::Start(0))?;
    file.write_all(line.as_bytes())?;
    file.set_len(line.len() as u64)
}
