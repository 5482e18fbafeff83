//! The store against real files: restarts, acknowledgements, the bound, torn and flipped
//! records, the lock across processes, a process killed while appending, and write errors
//! (a file size limit; a full and a read-only tmpfs in a user namespace).
//!
//! Tests that need another process run this test binary again with `STORE_CHILD` set: the
//! same test then plays the child's part.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::Qos;
use crate::mqtt::Outbound;

const OWNER: &str = "AMR001";
const TOPIC: &str = "amr/AMR001/status/position";
/// Set in a child process: the directory it works in.
const CHILD: &str = "STORE_CHILD";

fn options(max_bytes: u64) -> Options {
    Options {
        owner: OWNER.into(),
        max_bytes,
        durability: Durability::Fsync,
    }
}

fn open(dir: &Path, max_bytes: u64) -> (Store, Recovery) {
    Store::open(dir, options(max_bytes)).expect("open the store")
}

fn msg(seq: u64) -> Outbound {
    body(1, format!("{{\"seq\":{seq}}}"))
}

fn body(qos: u8, payload: String) -> Outbound {
    Outbound::new(Arc::from(TOPIC), Qos(qos), false, payload.into_bytes())
}

fn payload(m: &StoredMessage) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

/// Every pending message's payload, oldest first.
fn pending(store: &mut Store) -> Vec<String> {
    let read = store.read_after(0, usize::MAX, usize::MAX).expect("read");
    assert_eq!(read.damaged, 0, "no damage expected on reading");
    read.messages.iter().map(payload).collect()
}

fn seqs(range: impl IntoIterator<Item = u64>) -> Vec<String> {
    range
        .into_iter()
        .map(|s| format!("{{\"seq\":{s}}}"))
        .collect()
}

fn ids(a: &Appended) -> Vec<u64> {
    a.ids.iter().flatten().copied().collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

/// Cuts the last `bytes` off the newest segment; its path.
fn cut_newest(dir: &Path, bytes: u64) -> PathBuf {
    let seg = segments(dir).pop().expect("a segment");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open");
    let len = f.metadata().expect("stat").len();
    f.set_len(len - bytes).expect("truncate");
    seg
}

/// The warnings logged on this thread while `f` runs.
fn warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    capture::start();
    let out = f();
    (out, capture::take())
}

mod capture {
    use std::cell::RefCell;
    use std::sync::Once;

    thread_local!(static LINES: RefCell<Option<Vec<String>>> = const { RefCell::new(None) });

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::Level::Warn
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                LINES.with(|l| {
                    if let Some(v) = l.borrow_mut().as_mut() {
                        v.push(r.args().to_string());
                    }
                });
            }
        }
        fn flush(&self) {}
    }

    static CAPTURE: Capture = Capture;
    static INSTALL: Once = Once::new();

    pub fn start() {
        INSTALL.call_once(|| {
            log::set_logger(&CAPTURE).expect("no other logger in the unit tests");
            log::set_max_level(log::LevelFilter::Warn);
        });
        LINES.with(|l| *l.borrow_mut() = Some(Vec::new()));
    }

    pub fn take() -> Vec<String> {
        LINES.with(|l| l.borrow_mut().take().unwrap_or_default())
    }
}

#[test]
fn round_trip_in_order_qos_0_never_stored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut s, rec) = open(dir.path(), 1 << 20);
    assert_eq!(
        rec,
        Recovery {
            disk_bytes: s.disk_bytes(),
            ..Recovery::default()
        }
    );
    let mut retained = body(2, "alert".into());
    retained.retain = true;
    retained.topic = Arc::from("amr/AMR001/alert/error");
    let a = s
        .append(&[msg(1), body(0, "sensor".into()), retained, msg(2)])
        .expect("append");
    assert_eq!(a.ids, [Some(1), None, Some(2), Some(3)]);
    assert_eq!(a.dropped, 0);
    let read = s.read_after(0, 10, usize::MAX).expect("read");
    let got: Vec<(u64, &str, u8, bool, String)> = read
        .messages
        .iter()
        .map(|m| (m.id, &*m.topic, m.qos.0, m.retain, payload(m)))
        .collect();
    assert_eq!(
        got,
        [
            (1, TOPIC, 1, false, "{\"seq\":1}".into()),
            (2, "amr/AMR001/alert/error", 2, true, "alert".into()),
            (3, TOPIC, 1, false, "{\"seq\":2}".into()),
        ]
    );
    let age = read.messages[0]
        .created
        .elapsed()
        .expect("made in the past");
    assert!(
        age < Duration::from_secs(60),
        "created is the making time: {age:?}"
    );
    // Windows by count, by bytes (always at least one), and after a given id.
    let ids_of = |r: ReadBatch| r.messages.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids_of(s.read_after(1, 1, usize::MAX).expect("read")), [2]);
    assert_eq!(ids_of(s.read_after(0, 10, 1).expect("read")), [1]);
    assert_eq!(
        ids_of(s.read_after(3, 10, usize::MAX).expect("read")),
        Vec::<u64>::new()
    );
    let (id, out) = read.messages[1].clone().into_outbound();
    assert_eq!(
        (id, &*out.topic, out.qos, out.retain),
        (2, "amr/AMR001/alert/error", Qos(2), true)
    );
}

#[test]
fn after_a_restart_the_pending_come_back_oldest_first_before_new_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (mut s, _) = open(dir.path(), 1 << 20);
        for batch in [1..=4, 5..=7, 8..=10] {
            let batch: Vec<Outbound> = batch.map(msg).collect();
            s.append(&batch).expect("append");
        }
        s.ack(&[3, 5]).expect("ack");
    }
    let (mut s, rec) = open(dir.path(), 1 << 20);
    assert_eq!((rec.pending, rec.damaged, rec.dropped), (8, 0, 0));
    assert_eq!(rec.newest, Some(10));
    let a = s.append(&[msg(11)]).expect("append");
    assert_eq!(ids(&a), [11], "ids go on after a restart");
    assert_eq!(pending(&mut s), seqs([1, 2, 4, 6, 7, 8, 9, 10, 11]));
    assert_eq!(s.newest_pending(), Some(11));
}

#[test]
fn acknowledged_never_come_back_and_their_segments_go() {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = "x".repeat(900);
    let max = 64 * 1024; // segments of 4 KiB: about 4 messages each
    {
        let (mut s, _) = open(dir.path(), max);
        let batch: Vec<Outbound> = (1..=40).map(|i| body(1, format!("{i} {big}"))).collect();
        assert_eq!(
            ids(&s.append(&batch).expect("append")),
            (1..=40).collect::<Vec<_>>()
        );
        assert!(
            segments(dir.path()).len() >= 8,
            "{:?}",
            segments(dir.path())
        );
        // Out of order (as QoS 1 and 2 acknowledgements can be): the evens first.
        let evens: Vec<u64> = (2..=40).step_by(2).collect();
        assert_eq!(s.ack(&evens).expect("ack").removed, 20);
        assert_eq!(
            s.ack(&evens).expect("ack again").removed,
            0,
            "once is enough"
        );
        assert_eq!(s.ack(&[1, 3, 5, 7]).expect("ack").removed, 4);
        assert_eq!(s.pending(), 16);
    }
    let (mut s, rec) = open(dir.path(), max);
    assert_eq!(rec.pending, 16);
    let got = pending(&mut s);
    let want: Vec<String> = (9..=39).step_by(2).map(|i| format!("{i} {big}")).collect();
    assert_eq!(got, want);
    let odds: Vec<u64> = (9..=39).step_by(2).collect();
    s.ack(&odds).expect("ack");
    assert_eq!(s.pending(), 0);
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "a drained store is one segment"
    );
    let header_only = s.disk_bytes();
    drop(s);
    let (mut s, rec) = open(dir.path(), max);
    assert_eq!((rec.pending, rec.disk_bytes), (0, header_only));
    assert_eq!(ids(&s.append(&[msg(41)]).expect("append")), [41]);
}

#[test]
fn over_max_bytes_the_oldest_go_and_are_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let max = 64 * 1024;
    let (mut s, _) = open(dir.path(), max);
    let mut dropped = 0;
    for i in 1..=1000 {
        let a = s
            .append(&[body(1, format!("{i:05} {}", "y".repeat(100)))])
            .expect("append");
        dropped += a.dropped;
        let on_disk: u64 = segments(dir.path())
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        assert_eq!(on_disk, s.disk_bytes());
        assert!(on_disk <= max, "{on_disk} bytes on disk after message {i}");
    }
    assert!(dropped > 0);
    assert_eq!(s.pending() + dropped, 1000, "every message kept or counted");
    // What is left is the newest, in order, without a gap.
    let left = pending(&mut s);
    let first: u64 = left[0][..5].parse().expect("seq");
    let want: Vec<String> = (first..=1000)
        .map(|i| format!("{i:05} {}", "y".repeat(100)))
        .collect();
    assert_eq!(left, want);
    // One message bigger than the whole store: dropped and counted, nothing else lost.
    let before = s.pending();
    let huge = s
        .append(&[body(1, "z".repeat(max as usize))])
        .expect("append");
    assert_eq!((huge.ids.as_slice(), huge.dropped), ([None].as_slice(), 1));
    assert_eq!(s.pending(), before);
    drop(s);
    // A lower bound after a restart: the oldest go at once, counted in the recovery.
    let (s, rec) = open(dir.path(), 16 * 1024);
    assert!(rec.dropped > 0 && rec.disk_bytes <= 16 * 1024, "{rec:?}");
    assert_eq!(rec.pending + rec.dropped, before);
    assert_eq!(s.pending(), rec.pending);
}

#[test]
fn a_record_torn_at_the_end_is_cut_off_with_a_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (mut s, _) = open(dir.path(), 1 << 20);
        for i in 1..=5 {
            s.append(&[msg(i)]).expect("append");
        }
    }
    // In the middle of the last record, as a power cut during its write leaves it.
    let seg = cut_newest(dir.path(), 7);
    let ((mut s, rec), warned) = warnings(|| open(dir.path(), 1 << 20));
    assert_eq!((rec.pending, rec.damaged), (4, 1));
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains(&seg.display().to_string()) && warned[0].contains("cut off"),
        "{warned:?}"
    );
    assert_eq!(pending(&mut s), seqs(1..=4));
    // Appends go on after the intact records; the next open finds nothing wrong. (The torn
    // record's id is given again: its append never returned.)
    assert_eq!(ids(&s.append(&[msg(6)]).expect("append")), [5]);
    drop(s);
    let ((mut s, rec), warned) = warnings(|| open(dir.path(), 1 << 20));
    assert_eq!((rec.damaged, warned.len()), (0, 0), "{warned:?}");
    assert_eq!(pending(&mut s), seqs([1, 2, 3, 4, 6]));
}

#[test]
fn a_flipped_byte_in_the_middle_costs_that_record_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(second_of_three_flipped(dir.path()));
    let ((mut s, rec), warned) = warnings(|| open(dir.path(), 1 << 20));
    assert_eq!((rec.pending, rec.damaged), (2, 1));
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("checksum") && warned[0].contains("skipped"),
        "{warned:?}"
    );
    assert_eq!(pending(&mut s), seqs([1, 3]));
    assert_eq!(
        ids(&s.append(&[msg(4)]).expect("append")),
        [4],
        "its id never reused"
    );
}

#[test]
fn damage_that_comes_after_opening_is_skipped_when_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut s = second_of_three_flipped(dir.path());
    let (read, warned) = warnings(|| s.read_after(0, 10, usize::MAX).expect("read"));
    assert_eq!(
        read.messages.iter().map(payload).collect::<Vec<_>>(),
        seqs([1, 3])
    );
    assert_eq!(read.damaged, 1);
    assert!(
        warned.len() == 1 && warned[0].contains("message 2"),
        "{warned:?}"
    );
    assert_eq!(s.pending(), 2);
}

#[test]
fn a_segment_cut_short_after_opening_is_damage_not_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut s, _) = open(dir.path(), 1 << 20);
    s.append(&[msg(1), msg(2)]).expect("append");
    cut_newest(dir.path(), 3);
    let (read, warned) = warnings(|| s.read_after(0, 10, usize::MAX).expect("read"));
    assert_eq!(
        read.messages.iter().map(payload).collect::<Vec<_>>(),
        seqs([1])
    );
    assert_eq!((read.damaged, warned.len()), (1, 1), "{warned:?}");
}

/// A store of messages 1, 2 and 3, one bit of message 2 then flipped on the disk.
fn second_of_three_flipped(dir: &Path) -> Store {
    let (mut s, _) = open(dir, 1 << 20);
    s.append(&[msg(1), msg(2), msg(3)]).expect("append");
    let file = segments(dir).pop().expect("a segment");
    let needle = b"{\"seq\":2}";
    let mut bytes = std::fs::read(&file).expect("read");
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the record's payload in the file");
    bytes[at + needle.len() / 2] ^= 0x04;
    std::fs::write(&file, bytes).expect("write");
    s
}

#[test]
fn a_store_of_another_robot_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut s, _) = open(dir.path(), 1 << 20);
    s.append(&[msg(1)]).expect("append");
    drop(s);
    let mut other = options(1 << 20);
    other.owner = "AMR002".into();
    let e = Store::open(dir.path(), other).err().expect("refused");
    assert!(
        matches!(&e, StoreError::Foreign { found, .. } if found == OWNER),
        "{e}"
    );
    assert!(e.to_string().contains("{robot_id}"), "{e}");
}

#[test]
fn a_file_where_the_directory_should_be_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("store");
    std::fs::write(&file, b"not a directory").expect("write");
    for path in [file.clone(), file.join("inner")] {
        let e = Store::open(&path, options(1 << 20)).err().expect("refused");
        assert!(matches!(e, StoreError::Io { .. }), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
}

#[test]
fn a_second_opener_in_this_process_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = open(dir.path(), 1 << 20);
    let e = Store::open(dir.path(), options(1 << 20))
        .err()
        .expect("refused");
    let me = std::process::id();
    assert!(
        matches!(e, StoreError::Locked { pid: Some(p), .. } if p == me),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains(&dir.path().display().to_string()) && text.contains(&format!("pid {me}"))
    );
    drop(first);
    open(dir.path(), 1 << 20);
}

// --- Other processes -------------------------------------------------------------------

/// The directory given to this process when it plays a child's part (see [`Peer`]).
fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD).map(PathBuf::from)
}

/// This very test run again in a child process, on a temp dir of the parent's.
struct Peer {
    dir: tempfile::TempDir,
    proc: Child,
    said: std::sync::mpsc::Receiver<String>,
}

impl Peer {
    /// `test`: the test's own name; `wrap`: a command to run it under (e.g. `unshare`).
    fn start(test: &str, wrap: &[&str]) -> Peer {
        let dir = tempfile::tempdir().expect("temp dir");
        let exe = std::env::current_exe().expect("the test binary");
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let (program, args) = wrap
            .split_first()
            .map_or((exe.as_os_str(), &[][..]), |(p, a)| {
                (std::ffi::OsStr::new(p), a)
            });
        let mut cmd = Command::new(program);
        if !wrap.is_empty() {
            cmd.args(args).arg(&exe);
        }
        let mut proc = cmd
            .args([
                &format!("{module}::{test}"),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the child");
        let out = proc.stdout.take().expect("stdout");
        let (tx, said) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer { dir, proc, said }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The rest of the next line that the child said (see [`say`]) starting with `prefix`;
    /// a failure with its stderr when it says none within `within`.
    fn next(&mut self, prefix: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Ok(line) = self.said.recv_timeout(left) else {
                break;
            };
            if let Some(rest) = line.strip_prefix(SAID).and_then(|l| l.strip_prefix(prefix)) {
                return rest.to_owned();
            }
        }
        let status = self.proc.try_wait();
        panic!(
            "the child never said `{prefix}` ({status:?}): {}",
            self.stderr()
        );
    }

    /// Waits for the child to say `done` and end well.
    fn done(mut self, within: Duration) {
        self.next("done", within);
        let status = self.proc.wait().expect("reap");
        assert!(status.success(), "{status}: {}", self.stderr());
    }

    fn kill(&mut self) {
        self.proc.kill().expect("SIGKILL");
        self.proc.wait().expect("reap");
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.proc.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    }
}

/// A test that fails never leaves its child behind.
impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// What starts each line a child says, on a line of its own (libtest's `test name ... `
/// may stand before it).
const SAID: &str = "child said: ";

/// The child's side: says `line` on stdout at once.
fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n{SAID}{line}");
    let _ = out.flush();
}

#[test]
fn a_second_process_is_refused_and_the_lock_goes_with_its_holder() {
    if let Some(dir) = child_dir() {
        let _held = open(&dir, 1 << 20);
        say("held");
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let mut holder = Peer::start(
        "a_second_process_is_refused_and_the_lock_goes_with_its_holder",
        &[],
    );
    holder.next("held", Duration::from_secs(30));
    let e = Store::open(holder.dir(), options(1 << 20))
        .err()
        .expect("refused");
    let pid = holder.proc.id();
    assert!(
        matches!(e, StoreError::Locked { pid: Some(p), .. } if p == pid),
        "{e}"
    );
    assert!(e.to_string().contains(&format!("pid {pid}")), "{e}");
    holder.kill();
    open(holder.dir(), 1 << 20);
}

/// The payload of sequence number `seq` in the crash test: sizes from 40 bytes to 12 KiB,
/// so that writes span pages and a kill can tear one.
fn crash_payload(seq: u64) -> String {
    let pad = (seq * 7919 % 12_000) as usize;
    format!("{seq:08} {}", "k".repeat(pad))
}

#[test]
fn a_process_killed_while_appending_leaves_an_intact_prefix() {
    if let Some(dir) = child_dir() {
        let mut o = options(1 << 30);
        o.durability = Durability::PageCache;
        let (mut s, _) = Store::open(&dir, o).expect("open");
        let mut seq = 0;
        for n in (1..=8).cycle() {
            let batch: Vec<Outbound> = (seq + 1..=seq + n)
                .map(|i| body(1, crash_payload(i)))
                .collect();
            s.append(&batch).expect("append");
            seq += n;
            say(format!("stored {seq}"));
        }
        return;
    }
    for round in 0..3u64 {
        let mut c = Peer::start(
            "a_process_killed_while_appending_leaves_an_intact_prefix",
            &[],
        );
        // Killed at a different point each round, in the middle of its appends.
        let want = 500 + round * 700;
        let mut stored = 0;
        while stored < want {
            stored = c
                .next("stored ", Duration::from_secs(60))
                .parse()
                .expect("a count");
        }
        c.kill();
        let ((mut s, rec), warned) = warnings(|| open(c.dir(), 1 << 30));
        // Only the last record (or a segment's header) may be torn; all before it is there.
        assert!(rec.damaged <= 1, "{warned:?}");
        let got = s.read_after(0, usize::MAX, usize::MAX).expect("read");
        assert_eq!(got.damaged, 0);
        let n = got.messages.len() as u64;
        assert!(
            n >= stored,
            "round {round}: {n} found, {stored} were stored"
        );
        for (i, m) in got.messages.iter().enumerate() {
            let seq = i as u64 + 1;
            assert_eq!(
                (m.id, payload(m)),
                (seq, crash_payload(seq)),
                "round {round}"
            );
        }
        assert_eq!(ids(&s.append(&[msg(0)]).expect("append")), [n + 1]);
    }
}

#[test]
fn a_write_error_mid_append_stores_none_of_it_and_fails_the_store() {
    const LIMIT: u64 = 64 * 1024;
    if let Some(dir) = child_dir() {
        // No file may grow past LIMIT: the write that would gets EFBIG (not a signal).
        // SAFETY: plain libc calls on this process's own signal disposition and limits.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: libc::RLIM_INFINITY,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        }
        // Segments of 4 MiB: the limit comes first.
        let (error, stored) = fill_until_it_fails(&dir, 64 << 20);
        let efbig = matches!(&error.error, StoreError::Io { source, .. } if source.raw_os_error() == Some(libc::EFBIG));
        assert!(efbig, "{}", error.error);
        say(format!("done {stored}"));
        return;
    }
    Peer::start(
        "a_write_error_mid_append_stores_none_of_it_and_fails_the_store",
        &[],
    )
    .done(Duration::from_secs(60));
}

#[test]
fn a_full_then_read_only_disk_is_reported_and_nothing_stored_is_lost() {
    if let Some(dir) = child_dir() {
        full_then_read_only(&dir);
        say("done");
        return;
    }
    // A tmpfs of 64 KiB of our own: a user and mount namespace, no root needed. (Where user
    // namespaces are not allowed, `unshare --user --map-root-user --mount true` fails too.)
    let unshare = ["unshare", "--user", "--map-root-user", "--mount"];
    Peer::start(
        "a_full_then_read_only_disk_is_reported_and_nothing_stored_is_lost",
        &unshare,
    )
    .done(Duration::from_secs(60));
}

/// Appends batches of three until one fails: the error and how many were stored. The
/// failed store takes nothing more, still reads every stored message, and after a reopen
/// (on the same disk) they are all there, with no damage: the failed append was cut off.
fn fill_until_it_fails(dir: &Path, max_bytes: u64) -> (AppendError, u64) {
    let (mut s, _) = open(dir, max_bytes);
    let mut stored = 0;
    let error = loop {
        let batch: Vec<Outbound> = (0..3)
            .map(|i| body(1, crash_payload(stored + i + 1)))
            .collect();
        match s.append(&batch) {
            Ok(a) => stored += ids(&a).len() as u64,
            Err(e) => break e,
        }
    };
    let later = s
        .append(&[msg(0)])
        .expect_err("a failed store takes nothing");
    assert!(
        matches!(later.error, StoreError::Failed { .. }),
        "{}",
        later.error
    );
    let want: Vec<String> = (1..=stored).map(crash_payload).collect();
    assert_eq!(pending(&mut s), want, "what was stored is still read");
    drop(s);
    let ((mut s, rec), warned) = warnings(|| open(dir, max_bytes));
    assert_eq!((rec.damaged, warned.len()), (0, 0), "{warned:?}");
    assert_eq!(pending(&mut s), want);
    (error, stored)
}

fn full_then_read_only(dir: &Path) {
    mount(dir, 0, "size=64k");
    let store = dir.join("store");
    let (error, stored) = fill_until_it_fails(&store, 1 << 20);
    assert!(
        error.error.is_no_space() && !error.error.is_read_only(),
        "{}",
        error.error
    );
    assert!(stored > 0);
    // Through the worker: the messages come back, to be kept in memory.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (w, mut events, _) =
            StoreWorker::open(store.clone(), options(1 << 20), 8, Default::default())
                .await
                .expect("open");
        let batch: Vec<Outbound> = (0..4).map(|_| body(1, "g".repeat(4000))).collect();
        w.append(batch).expect("queued");
        match events.recv().await {
            Some(StoreEvent::NotStored {
                messages, error, ..
            }) => {
                assert_eq!(messages.len(), 4);
                assert!(messages.iter().all(|m| m.payload.len() == 4000));
                assert!(error.is_no_space(), "{error}");
            }
            other => panic!("{other:?}"),
        }
        w.close().await;
    });
    mount(dir, libc::MS_REMOUNT | libc::MS_RDONLY, "");
    let e = Store::open(&store, options(1 << 20))
        .err()
        .expect("read-only");
    assert!(e.is_read_only() && !e.is_no_space(), "{e}");
    assert!(e.to_string().contains(&store.display().to_string()), "{e}");
}

fn mount(dir: &Path, flags: libc::c_ulong, data: &str) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let target = CString::new(dir.as_os_str().as_bytes()).expect("path");
    let data = CString::new(data).expect("data");
    // SAFETY: valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    assert_eq!(
        rc,
        0,
        "mount tmpfs on {}: {}",
        dir.display(),
        std::io::Error::last_os_error()
    );
}

// --- The worker --------------------------------------------------------------------------

#[tokio::test]
async fn the_worker_stores_in_order_answers_reads_and_acknowledges() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gauge = std::sync::Arc::new(crate::diagnostics::StoreGauge::default());
    let (w, mut events, rec) =
        StoreWorker::open(dir.path().into(), options(1 << 20), 16, gauge.clone())
            .await
            .expect("open");
    assert_eq!(rec.pending, 0);
    for batch in [
        vec![msg(1), msg(2)],
        vec![body(0, "sensor".into())],
        vec![msg(3)],
    ] {
        w.append(batch).expect("queued");
    }
    let mut stored = Vec::new();
    for _ in 0..3 {
        match events.recv().await {
            Some(StoreEvent::Stored { ids, dropped: 0 }) => stored.push(ids),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(stored, [vec![Some(1), Some(2)], vec![None], vec![Some(3)]]);
    // Measured before the outcomes were sent.
    assert_eq!(gauge.pending.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert!(gauge.bytes.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert!(w.read(1, 10, usize::MAX));
    match events.recv().await {
        Some(StoreEvent::Read {
            after: 1,
            result: Ok(r),
        }) => {
            assert_eq!(
                r.messages.iter().map(payload).collect::<Vec<_>>(),
                seqs([2, 3])
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(w.ack(vec![1, 2, 3]));
    w.close().await;
    let (_, rec) = open(dir.path(), 1 << 20);
    assert_eq!(rec.pending, 0, "acknowledged before the close");
}

#[tokio::test]
async fn the_worker_hands_messages_back_when_its_queue_is_full() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Nobody reads the events: the thread soon waits, and so do requests.
    let (w, _events, _) =
        StoreWorker::open(dir.path().into(), options(1 << 20), 1, Default::default())
            .await
            .expect("open");
    let mut back = None;
    for i in 1..=10 {
        if let Err(batch) = w.append(vec![msg(i)]) {
            back = Some((i, batch));
            break;
        }
    }
    let (i, batch) = back.expect("a full queue hands the messages back");
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].payload, format!("{{\"seq\":{i}}}").as_bytes());
}
