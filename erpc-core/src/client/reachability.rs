//! What a client knows of reaching each instance it may call ([`Client::reachability`]):
//! for a readiness probe (a gateway's `/readyz`) that should not call a service ready while
//! every one of its instances refuses connections.
//!
//! [`Client::reachability`]: crate::Client::reachability

use erpc_transport::Address;

use crate::status::Status;

/// One instance a client may call now, and whether the client knows it unreachable.
#[derive(Debug, Clone)]
pub struct Reachability {
    /// The instance's address.
    pub addr: Address,
    /// `Some` when the client's last connection attempt to it failed and it is backing off
    /// (or being re-checked): the status a call to it alone is refused with —
    /// `unavailable`, "cannot connect to ADDR: …; retrying in N ms", with the wait as its
    /// retry hint. `None` when it is connected, or was never tried (nothing is known
    /// against it).
    pub unreachable: Option<Status>,
}
