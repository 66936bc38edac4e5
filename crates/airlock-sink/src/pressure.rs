//! Bounds on the sink's memory under flood (issue 19): a table of open connections that
//! closes the least recently active one when a new connection would exceed the limit
//! (so the newest connection, where a payload's real request usually is, is always
//! served), and a pool of memory for bytes captured beyond each request's head (a body
//! that cannot get more is cut to what it has, and the cut is counted).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use crate::io::Counters;

/// What is known of an open connection from its first moment, so one still busy when
/// the sink stops can be recorded anyway.
#[derive(Debug, Clone)]
pub struct Facts {
    pub dst: std::net::SocketAddr,
    pub name: Option<String>,
    pub counters: Arc<Counters>,
    pub started: Instant,
}

/// One open connection's entry.
pub struct Slot {
    id: u64,
    epoch: Instant,
    /// Milliseconds since the table's epoch at the connection's last read.
    last_active: AtomicU64,
    evict: watch::Sender<bool>,
    facts: Option<Facts>,
}

impl Slot {
    /// Marks the connection active now.
    pub fn touch(&self) {
        self.last_active
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Resolves when the table closes this connection to make room.
    pub fn evicted(&self) -> watch::Receiver<bool> {
        self.evict.subscribe()
    }
}

/// The open connections, at most `max` of them.
pub struct ConnTable {
    max: usize,
    epoch: Instant,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    /// Connections closed to make room.
    pub evicted: AtomicU64,
    /// The most connections open at once.
    pub peak: AtomicU64,
}

impl ConnTable {
    pub fn new(max: usize) -> ConnTable {
        ConnTable {
            max: max.max(1),
            epoch: Instant::now(),
            slots: Mutex::new(HashMap::new()),
            evicted: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Registers connection `id`; when that makes more than `max` open, the least
    /// recently active other connection is told to close.
    pub fn register(&self, id: u64, facts: Option<Facts>) -> Arc<Slot> {
        let (evict, _) = watch::channel(false);
        let slot = Arc::new(Slot {
            id,
            epoch: self.epoch,
            last_active: AtomicU64::new(self.now_ms()),
            evict,
            facts,
        });
        let Ok(mut slots) = self.slots.lock() else {
            return slot;
        };
        slots.insert(id, slot.clone());
        self.peak.fetch_max(slots.len() as u64, Ordering::Relaxed);
        if slots.len() > self.max {
            let victim = slots
                .values()
                .filter(|s| s.id != id)
                .min_by_key(|s| (s.last_active.load(Ordering::Relaxed), s.id))
                .cloned();
            if let Some(v) = victim {
                // Out of the table now, so the next arrival picks another one while
                // this one winds down.
                slots.remove(&v.id);
                self.evicted.fetch_add(1, Ordering::Relaxed);
                let _ = v.evict.send(true);
            }
        }
        slot
    }

    /// Forgets a connection that ended.
    pub fn remove(&self, id: u64) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.remove(&id);
        }
    }

    pub fn open(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Empties the table, returning the facts of the connections still in it (by id).
    pub fn take_open(&self) -> Vec<(u64, Facts)> {
        let Ok(mut slots) = self.slots.lock() else {
            return Vec::new();
        };
        let mut out: Vec<(u64, Facts)> = slots
            .drain()
            .filter_map(|(id, s)| s.facts.clone().map(|f| (id, f)))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out
    }
}

/// Memory for captured bytes beyond the heads, shared by all connections.
#[derive(Debug)]
pub struct MemPool {
    cap: u64,
    used: AtomicU64,
    /// Requests or connections that wanted more than the pool had.
    pub refused: AtomicU64,
}

impl MemPool {
    pub fn new(cap: u64) -> MemPool {
        MemPool {
            cap,
            used: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn take(&self, n: u64) -> bool {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            if cur + n > self.cap {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            match self
                .used
                .compare_exchange_weak(cur, cur + n, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(v) => cur = v,
            }
        }
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// Bytes held from a [`MemPool`], given back when dropped (also when a connection's
/// future is cancelled).
pub struct Reservation<'a> {
    pool: &'a MemPool,
    held: u64,
}

impl<'a> Reservation<'a> {
    pub fn new(pool: &'a MemPool) -> Reservation<'a> {
        Reservation { pool, held: 0 }
    }

    /// Holds `n` more bytes; false (and nothing held) when the pool is short.
    pub fn grow(&mut self, n: u64) -> bool {
        if n == 0 {
            return true;
        }
        let ok = self.pool.take(n);
        if ok {
            self.held += n;
        }
        ok
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.pool.used.fetch_sub(self.held, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_evicts_the_least_recently_active() {
        let t = ConnTable::new(2);
        let a = t.register(1, None);
        let b = t.register(2, None);
        std::thread::sleep(std::time::Duration::from_millis(5));
        a.touch();
        let ev_a = a.evicted();
        let ev_b = b.evicted();
        let c = t.register(3, None);
        assert!(*ev_b.borrow(), "b was idle longest");
        assert!(!*ev_a.borrow());
        assert!(!*c.evicted().borrow(), "the newcomer is never the victim");
        assert_eq!(t.open(), 2);
        assert_eq!(t.evicted.load(Ordering::Relaxed), 1);
        assert_eq!(t.peak.load(Ordering::Relaxed), 3);
        t.remove(1);
        t.remove(3);
        assert_eq!(t.open(), 0);
    }

    #[test]
    fn the_pool_refuses_past_its_cap_and_drops_give_back() {
        let pool = MemPool::new(100);
        let mut r1 = Reservation::new(&pool);
        assert!(r1.grow(60));
        {
            let mut r2 = Reservation::new(&pool);
            assert!(!r2.grow(50));
            assert!(r2.grow(40));
            assert_eq!(pool.used(), 100);
        }
        assert_eq!(pool.used(), 60);
        drop(r1);
        assert_eq!(pool.used(), 0);
        assert_eq!(pool.refused.load(Ordering::Relaxed), 1);
    }
}
