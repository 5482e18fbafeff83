//! The harness itself: ROS domain ids are the test's own, across the threads of one test
//! binary and against any other process on this machine.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The lock file of domain `id`, as `common::domain` names it.
fn lock_file(id: u32) -> String {
    format!("/tmp/amr_bridge_domains/{id}")
}

#[test]
fn domains_are_distinct_across_threads_and_in_range() {
    let threads: Vec<_> = (0..8).map(|_| std::thread::spawn(Domain::new)).collect();
    let domains: Vec<Domain> = threads
        .into_iter()
        .map(|t| t.join().expect("a thread allocating a domain"))
        .collect();
    let ids: BTreeSet<u32> = domains.iter().map(Domain::id).collect();
    assert_eq!(ids.len(), domains.len(), "two threads got one id: {ids:?}");
    for id in &ids {
        assert!((1..=100).contains(id) && *id != 42, "id {id} out of range");
    }
}

#[test]
fn a_domain_held_by_another_process_is_never_handed_out() {
    // Learn a free id, then let another process hold it the way the harness does.
    let id = Domain::new().id();
    // One process (the shell becomes `sleep`) holds the lock on its file until it is killed.
    // It waits for the lock (the test beside this one may hold the id for a moment) and says
    // when it has it.
    let hold = r#"exec 9>>"$0" && flock -w 20 9 && echo held && exec sleep 30"#;
    let mut holder = Proc::spawn(
        Command::new("sh")
            .args(["-c", hold, &lock_file(id)])
            .stdout(Stdio::piped()),
        "sh with flock (util-linux)",
    );
    let mut said = Lines::from(holder.child.stdout.take().expect("the holder's stdout"));
    let held = said.next(Duration::from_secs(25));
    assert_eq!(
        held.as_deref(),
        Some("held"),
        "flock could not take {}",
        lock_file(id)
    );
    assert!(holder.alive(), "the holder still holds {}", lock_file(id));
    let others: Vec<Domain> = (0..4).map(|_| Domain::new()).collect();
    assert!(
        others.iter().all(|d| d.id() != id),
        "domain {id} was handed out while another process held it"
    );
    // While a domain is ours, no other process can take it.
    let mine = &others[0];
    let status = Command::new("flock")
        .args(["-n", &lock_file(mine.id()), "true"])
        .status()
        .expect("run flock");
    assert!(!status.success(), "another process took domain {mine}");
}
