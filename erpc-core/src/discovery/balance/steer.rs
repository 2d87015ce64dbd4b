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
    /// Where this attempt went: the connection to the instance picked (which names it), and
    /// whether the request was queued on it (sent) or failed before that. The connection,
    /// not its address: recording is then a reference count, and the address is copied
    /// only when a fail mode asks (after a failure).
    landed: Mutex<Option<(Arc<dyn Peer>, bool)>>,
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
            landed: Mutex::new(None),
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
        let landed = inner.landed.lock().unwrap_or_else(|p| p.into_inner());
        landed.as_ref().map(|(peer, sent)| Landed {
            addr: peer.peer().clone(),
            sent: *sent,
        })
    }

    /// Record that the attempt was given to `peer`'s instance, sent or not yet. Free when
    /// unset.
    pub(crate) fn record<P: Peer + 'static>(&self, peer: &Arc<P>, sent: bool) {
        if let Some(inner) = &self.0 {
            let mut landed = inner.landed.lock().unwrap_or_else(|p| p.into_inner());
            match landed.as_mut() {
                // Recorded on this connection already (picked, now queued): only `sent`
                // changes, no reference count.
                Some((was, was_sent)) if std::ptr::addr_eq(Arc::as_ptr(was), Arc::as_ptr(peer)) => {
                    *was_sent = sent;
                }
                _ => *landed = Some((peer.clone(), sent)),
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
