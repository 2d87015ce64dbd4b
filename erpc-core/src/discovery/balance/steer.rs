//! Where an attempt of a call should go relative to the instances its earlier attempts went
//! to, and where it went: what a retry, a hedge or a broadcast tells the pick and learns back.
//!
//! A fail mode needs both directions. `failover` sends a retry to *another* instance, so the
//! pick must know which ones the call already tried; `failtry` sends it to the *same* one;
//! `broadcast` sends one copy to each instance, pinned. And the layer deciding whether a
//! failed attempt may be retried must know whether its request was sent at all (a request
//! never queued on a connection may always go elsewhere) and which instance it reached. So
//! the call carries a [`Steer`]: the wish, read by the pick, and a slot the client fills when
//! it queues the request on a connection.
//!
//! A call without a fail mode carries an empty `Steer` (`Option::None` inside): no
//! allocation, and the pick skips one branch. A fail mode allocates one per attempt.
//!
//! An attempt is recorded twice (picked, then queued or not) on the same connection, so the
//! slot holds the first connection it was given to — one lock, the first time; the second
//! record is an atomic read — and a flag that the request was queued, which once set stays
//! set: a steer shared by two sends (a request cloned by a layer of the user's) reports it
//! sent if either was, so a call that reached a server is never taken for one that did not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use erpc_transport::Address;

/// What an attempt of a call asks of the pick, and where it went (see the module docs).
/// Cheap to clone (an `Arc`); the default asks for nothing and records nothing.
#[derive(Clone, Default)]
pub struct Steer(Option<Arc<Inner>>);

struct Inner {
    want: Want,
    /// Instances earlier attempts of the call went to, oldest first.
    tried: Vec<Address>,
    /// Where this attempt went: the connection to the instance picked (which names it; the
    /// first one recorded). The connection, not its address: recording is then a reference
    /// count, and the address is copied only when a fail mode asks (after a failure).
    peer: Mutex<Option<Arc<dyn Peer>>>,
    /// Whether `peer` was set: a later record then takes no lock.
    recorded: AtomicBool,
    /// Whether the request was queued on a connection (sent), rather than failing before
    /// that. Never reset once set (see the module docs).
    sent: AtomicBool,
}

/// What an attempt landed on: something that names its instance (the client's connection).
pub(crate) trait Peer: Send + Sync {
    /// The instance's address.
    fn peer(&self) -> &Address;
}

impl Peer for Address {
    fn peer(&self) -> &Address {
        self
    }
}

/// Where an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The instance the pick chose.
    pub addr: Address,
    /// Whether the request was queued on a connection to it. `false`: it failed before
    /// (connection refused, closing, every slot backing off), so the server never saw it.
    pub sent: bool,
}

/// What an attempt asks of the pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Whatever the balancer picks (only record where it went).
    Any,
    /// Another instance than those tried; one of them if nothing else is usable.
    Other,
    /// The instance tried last, if it is still listed and usable; else whatever the balancer
    /// picks.
    Same,
    /// This instance and no other: the attempt fails `unavailable` if it is not listed or
    /// cannot take calls (one copy of a broadcast).
    Only(Address),
}

/// The empty steer, for a [`crate::discovery::Pick`] built by hand.
pub static NO_STEER: Steer = Steer(None);

impl Steer {
    /// An attempt asking `want`, after attempts that went to `tried` (oldest first).
    pub fn new(want: Want, tried: Vec<Address>) -> Steer {
        Steer(Some(Arc::new(Inner {
            want,
            tried,
            peer: Mutex::new(None),
            recorded: AtomicBool::new(false),
            sent: AtomicBool::new(false),
        })))
    }

    /// Whether this asks for anything or records anything (a fail mode set it).
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// What the attempt asks ([`Want::Any`] when nothing was set).
    pub fn want(&self) -> &Want {
        self.0.as_ref().map_or(&Want::Any, |inner| &inner.want)
    }

    /// Whether this is a later attempt of a call — a retry or a hedge ([`Want::Other`],
    /// [`Want::Same`]) — rather than its first or a broadcast's pinned copy: its pick must
    /// not take a turn from the next call (see [`crate::discovery::Pick::retry`]).
    pub fn is_retry(&self) -> bool {
        matches!(self.want(), Want::Other | Want::Same)
    }

    /// Instances earlier attempts went to, oldest first (empty when nothing was set).
    pub fn tried(&self) -> &[Address] {
        self.0.as_ref().map_or(&[], |inner| &inner.tried)
    }

    /// Instances the pick should avoid: those tried, when [`Want::Other`].
    pub fn avoid(&self) -> &[Address] {
        match self.want() {
            Want::Other => self.tried(),
            _ => &[],
        }
    }

    /// The instance the pick should prefer: the last one tried for [`Want::Same`], the
    /// pinned one for [`Want::Only`].
    pub fn prefer(&self) -> Option<&Address> {
        match self.want() {
            Want::Same => self.tried().last(),
            Want::Only(addr) => Some(addr),
            _ => None,
        }
    }

    /// Where the attempt went, once the client picked an instance for it.
    pub fn landed(&self) -> Option<Landed> {
        let inner = self.0.as_ref()?;
        let peer = inner.peer.lock().unwrap_or_else(|p| p.into_inner());
        Some(Landed {
            addr: peer.as_ref()?.peer().clone(),
            sent: inner.sent.load(Ordering::Acquire),
        })
    }

    /// Record that the attempt was given to `peer`'s instance, sent or not yet. Free when
    /// unset; a lock and a reference count the first time, an atomic read after (the same
    /// connection: picked, now queued).
    pub(crate) fn record<P: Peer + 'static>(&self, peer: &Arc<P>, sent: bool) {
        if let Some(inner) = &self.0 {
            if !inner.recorded.load(Ordering::Acquire) {
                // Whole values only: a poisoned slot is still consistent.
                let mut slot = inner.peer.lock().unwrap_or_else(|p| p.into_inner());
                if slot.is_none() {
                    *slot = Some(peer.clone());
                }
                inner.recorded.store(true, Ordering::Release);
            }
            if sent {
                inner.sent.store(true, Ordering::Release);
            }
        }
    }
}

impl std::fmt::Debug for Steer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Steer::None"),
            Some(inner) => f
                .debug_struct("Steer")
                .field("want", &inner.want)
                .field("tried", &inner.tried)
                .finish_non_exhaustive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_queued_once_stays_sent_whatever_is_recorded_after() {
        // A request cloned by a layer with its steer and sent twice: the first copy was
        // queued on `a`, the second then picked `b` and failed before it was queued. The
        // call did reach a server, so it must not be taken for one never sent (which any
        // fail mode would resend, idempotent or not).
        let a: Arc<Address> = Arc::new("tcp://127.0.0.1:1".parse().expect("address"));
        let b: Arc<Address> = Arc::new("tcp://127.0.0.1:2".parse().expect("address"));
        let steer = Steer::new(Want::Any, Vec::new());
        steer.record(&a, false);
        steer.record(&a, true);
        steer.record(&b, false);
        assert_eq!(
            steer.landed(),
            Some(Landed {
                addr: Address::clone(&a),
                sent: true
            })
        );
    }

    #[test]
    fn the_wish_names_what_to_avoid_or_prefer() {
        let a: Address = "tcp://127.0.0.1:1".parse().expect("address");
        let b: Address = "tcp://127.0.0.1:2".parse().expect("address");
        assert!(NO_STEER.avoid().is_empty() && NO_STEER.prefer().is_none());
        NO_STEER.record(&Arc::new(a.clone()), true);
        assert_eq!(NO_STEER.landed(), None, "an unset steer records nothing");
        let other = Steer::new(Want::Other, vec![a.clone(), b.clone()]);
        assert_eq!(other.avoid(), &[a.clone(), b.clone()]);
        assert_eq!(other.prefer(), None);
        let same = Steer::new(Want::Same, vec![a.clone(), b.clone()]);
        assert_eq!(same.prefer(), Some(&b));
        assert!(same.avoid().is_empty());
        same.record(&Arc::new(b.clone()), false);
        assert_eq!(
            same.landed(),
            Some(Landed {
                addr: b,
                sent: false
            })
        );
    }
}
