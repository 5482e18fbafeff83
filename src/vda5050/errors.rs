//! The vehicle's active errors (`state.errors`): what raises them, how long they last, and a
//! bound on how many are kept, so that no input can grow the state message without end.
//!
//! Lifetimes follow the text (6.6.4): an error about an order lasts until a new order is
//! accepted; one about an `instantActions` message until a later message is taken whole (or an
//! order is accepted); a condition (battery unknown) while it lasts.

use std::collections::VecDeque;

use super::version::Version;
pub use super::words::ErrorKind;
use super::words::ErrorLevel;
use crate::logging::printable;

/// Where an error came from, which decides when it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The `order` topic or the order's execution: until an order is accepted.
    Order,
    /// The `instantActions` topic: until a message is taken whole or an order is accepted.
    InstantActions,
    /// A condition of the vehicle: until it ends ([`Errors::resolve`]).
    Condition,
}

/// `errorReferences[]`: key and value, as the text suggests (`headerId`, `topic`, `orderId`,
/// `orderUpdateId`, `actionId`, `nodeId`, ...).
pub type Reference = (&'static str, String);

#[derive(Debug, Clone, PartialEq)]
pub struct ActiveError {
    pub kind: ErrorKind,
    pub scope: Scope,
    pub level: ErrorLevel,
    pub description: String,
    pub references: Vec<Reference>,
}

/// Longest text of a description or reference value: they can quote fleet input.
const TEXT_LEN: usize = 512;

impl ActiveError {
    pub fn new(kind: ErrorKind, scope: Scope, description: impl AsRef<str>) -> ActiveError {
        ActiveError {
            kind,
            scope,
            level: ErrorLevel::Warning,
            description: printable(description.as_ref(), TEXT_LEN).into_owned(),
            references: Vec::new(),
        }
    }

    /// Adds a reference; fleet text is made printable and cut.
    pub fn with(mut self, key: &'static str, value: impl AsRef<str>) -> ActiveError {
        self.references
            .push((key, printable(value.as_ref(), TEXT_LEN).into_owned()));
        self
    }

    /// Adds a reference unless one with `key` is there already.
    pub fn refer(self, key: &'static str, value: impl AsRef<str>) -> ActiveError {
        if self.references.iter().any(|(k, _)| *k == key) {
            return self;
        }
        self.with(key, value)
    }

    pub fn error_type(&self, version: Version) -> &'static str {
        version.error_type(self.kind)
    }
}

/// The active errors, oldest first, at most `max`.
#[derive(Debug, Clone)]
pub struct Errors {
    list: VecDeque<ActiveError>,
    max: usize,
    /// Errors dropped to keep the bound (counted for the bridge's diagnostics).
    pub evicted: u64,
}

impl Errors {
    pub fn new(max: usize) -> Errors {
        Errors {
            list: VecDeque::new(),
            max: max.max(1),
            evicted: 0,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &ActiveError> {
        self.list.iter()
    }

    /// Raises `e`; the same error again moves to the end instead of repeating. Returns
    /// whether the list changed.
    pub fn raise(&mut self, e: ActiveError) -> bool {
        if self.list.back() == Some(&e) {
            return false;
        }
        self.list.retain(|old| old != &e);
        self.list.push_back(e);
        while self.list.len() > self.max {
            self.list.pop_front();
            self.evicted += 1;
        }
        true
    }

    /// An order was accepted: every error about orders and instant actions goes.
    pub fn order_accepted(&mut self) -> bool {
        self.drop_where(|e| e.scope != Scope::Condition)
    }

    /// An `instantActions` message was taken whole: its earlier errors go.
    pub fn instant_actions_accepted(&mut self) -> bool {
        self.drop_where(|e| e.scope == Scope::InstantActions)
    }

    /// A condition of `kind` ended.
    pub fn resolve(&mut self, kind: ErrorKind) -> bool {
        self.drop_where(|e| e.scope == Scope::Condition && e.kind == kind)
    }

    pub fn has(&self, kind: ErrorKind) -> bool {
        self.list.iter().any(|e| e.kind == kind)
    }

    fn drop_where(&mut self, gone: impl Fn(&ActiveError) -> bool) -> bool {
        let before = self.list.len();
        self.list.retain(|e| !gone(e));
        self.list.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: ErrorKind, scope: Scope, text: &str) -> ActiveError {
        ActiveError::new(kind, scope, text)
    }

    #[test]
    fn lifetimes_follow_the_text() {
        let mut e = Errors::new(8);
        assert!(e.raise(err(ErrorKind::Validation, Scope::Order, "bad order")));
        assert!(e.raise(err(ErrorKind::InstantAction, Scope::InstantActions, "no")));
        assert!(e.raise(err(ErrorKind::BatteryUnknown, Scope::Condition, "?")));
        assert!(e.instant_actions_accepted());
        assert!(!e.has(ErrorKind::InstantAction) && e.has(ErrorKind::Validation));
        assert!(e.order_accepted());
        assert_eq!(e.iter().count(), 1, "a condition outlives orders");
        assert!(e.resolve(ErrorKind::BatteryUnknown));
        assert!(!e.resolve(ErrorKind::BatteryUnknown));
        assert_eq!(e.iter().count(), 0);
    }

    #[test]
    fn bounded_without_repeats_and_printable() {
        let mut e = Errors::new(4);
        for i in 0..10 {
            e.raise(err(ErrorKind::Order, Scope::Order, &format!("e{i}")));
        }
        let texts: Vec<&str> = e.iter().map(|x| x.description.as_str()).collect();
        assert_eq!(texts, ["e6", "e7", "e8", "e9"]);
        assert_eq!(e.evicted, 6);
        assert!(
            !e.raise(err(ErrorKind::Order, Scope::Order, "e9")),
            "no repeat"
        );
        assert!(e.raise(err(ErrorKind::Order, Scope::Order, "e7")));
        let texts: Vec<&str> = e.iter().map(|x| x.description.as_str()).collect();
        assert_eq!(texts, ["e6", "e8", "e9", "e7"], "a repeat moves to the end");
        let x = ActiveError::new(ErrorKind::Order, Scope::Order, "a\u{0}b".repeat(1000))
            .with("actionId", "\u{1b}[2J");
        assert!(x.description.len() < 600 && !x.description.contains('\u{0}'));
        assert_eq!(x.references[0].1, "\\u{1b}[2J");
    }
}
