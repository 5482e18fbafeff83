//! The emergency-stop latch (per source) and the memory of executed command ids.

use std::collections::{HashSet, VecDeque};

pub use crate::envelope::Source;

/// The latch holds while any source holds it: a fleet release must not override a local
/// e-stop button, nor a local release a fleet e-stop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latch {
    mqtt: bool,
    ros: bool,
}

impl Latch {
    pub fn engaged(&self) -> bool {
        self.mqtt || self.ros
    }

    pub fn held_by(&self, source: Source) -> bool {
        match source {
            Source::Mqtt => self.mqtt,
            Source::Ros => self.ros,
        }
    }

    /// The sources holding the latch, for alerts.
    pub fn sources(&self) -> Vec<Source> {
        [Source::Mqtt, Source::Ros]
            .into_iter()
            .filter(|s| self.held_by(*s))
            .collect()
    }

    /// Their names, for reasons and logs.
    pub fn holders(&self) -> Vec<&'static str> {
        self.sources().into_iter().map(Source::name).collect()
    }

    /// True when this source was not holding it before.
    pub fn engage(&mut self, source: Source) -> bool {
        let flag = self.flag(source);
        let newly = !*flag;
        *flag = true;
        newly
    }

    /// True when this source was holding it before.
    pub fn release(&mut self, source: Source) -> bool {
        let flag = self.flag(source);
        let held = *flag;
        *flag = false;
        held
    }

    fn flag(&mut self, source: Source) -> &mut bool {
        match source {
            Source::Mqtt => &mut self.mqtt,
            Source::Ros => &mut self.ros,
        }
    }
}

/// The last `capacity` ids of executed commands, oldest forgotten first.
#[derive(Debug, Clone)]
pub struct IdMemory {
    capacity: usize,
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl IdMemory {
    pub fn new(capacity: usize) -> IdMemory {
        IdMemory {
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    pub fn remember(&mut self, id: &str) {
        if self.capacity == 0 || self.set.contains(id) {
            return;
        }
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(id.to_owned());
        self.set.insert(id.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_release_only_themselves() {
        let mut l = Latch::default();
        assert!(l.engage(Source::Mqtt));
        assert!(!l.engage(Source::Mqtt));
        assert!(l.engage(Source::Ros));
        assert!(l.release(Source::Mqtt));
        assert!(l.engaged());
        assert_eq!(l.holders(), ["ros"]);
        assert!(l.release(Source::Ros));
        assert!(!l.engaged());
        assert!(!l.release(Source::Ros));
    }

    #[test]
    fn id_memory_forgets_the_oldest() {
        let mut m = IdMemory::new(2);
        m.remember("a");
        m.remember("b");
        m.remember("c");
        assert!(!m.contains("a"));
        assert!(m.contains("b") && m.contains("c"));
        let mut none = IdMemory::new(0);
        none.remember("a");
        assert!(!none.contains("a"));
    }
}
