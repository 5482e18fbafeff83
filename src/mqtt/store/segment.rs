//! Segment files: `<dir>/<number, 20 digits>.seg`, so that the names sort as the numbers do.
//! Anything else in the directory (the lock file, a file of an operator's) is left alone.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::format::Header;
use super::StoreError;

/// A segment file as the store tracks it.
pub struct Segment {
    pub path: PathBuf,
    pub size: u64,
    /// Where its records start (after the header).
    pub start: u64,
    /// Messages in it not acknowledged yet.
    pub live: usize,
    /// Opened on the first read.
    pub(super) reader: Option<File>,
}

impl Segment {
    pub fn new(path: PathBuf, size: u64, start: u64) -> Segment {
        Segment {
            path,
            size,
            start,
            live: 0,
            reader: None,
        }
    }
}

/// Where one message lies (its segment, offset and length), and whether it is acknowledged.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub id: u64,
    pub segment: u64,
    pub offset: u64,
    pub len: usize,
    pub acked: bool,
}

impl Entry {
    pub fn new(id: u64, segment: u64, offset: u64, len: usize) -> Entry {
        Entry {
            id,
            segment,
            offset,
            len,
            acked: false,
        }
    }
}

const SUFFIX: &str = ".seg";

pub fn path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}{SUFFIX}"))
}

fn number(name: &OsStr) -> Option<u64> {
    let digits = name.to_str()?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let read = StoreError::io(dir, "list the directory");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(StoreError::io(dir, "list the directory"))?;
        if let Some(n) = number(&entry.file_name()) {
            found.push((n, entry.path()));
        }
    }
    found.sort_unstable_by_key(|(n, _)| *n);
    Ok(found)
}

/// A new segment holding only its header; with `sync`, its name and header are on the disk
/// before it is used. Returns the file opened for appending and its length.
pub fn create(
    dir: &Path,
    number: u64,
    header: &Header,
    sync: bool,
) -> Result<(File, u64), StoreError> {
    let p = path(dir, number);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .open(&p)
        .map_err(StoreError::io(&p, "create a segment"))?;
    let bytes = header.encode();
    let written = file.write_all(&bytes).and_then(|()| match sync {
        true => file.sync_data(),
        false => Ok(()),
    });
    if let Err(e) = written {
        // Never leave a segment without its header behind.
        let _ = std::fs::remove_file(&p);
        return Err(StoreError::io(&p, "write a segment header")(e));
    }
    if sync {
        sync_dir(dir)?;
    }
    Ok((file, bytes.len() as u64))
}

/// Makes the directory's entries (a new segment's name) durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(dir, "sync the directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_as_numbers_and_strangers_are_ignored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let header = Header {
            base_id: 1,
            owner: "r".into(),
        };
        for n in [10, 9, 100] {
            create(dir.path(), n, &header, false).expect("segment");
        }
        for stranger in ["LOCK", "1.seg", "0000000000000000000x.seg", "notes.txt"] {
            std::fs::write(dir.path().join(stranger), b"x").expect("stranger");
        }
        let numbers: Vec<u64> = list(dir.path())
            .expect("list")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(numbers, [9, 10, 100]);
        assert!(
            create(dir.path(), 9, &header, false).is_err(),
            "never overwritten"
        );
    }
}
