//! The connect-failure mark: a failed call's status saying that no working connection to a
//! server could be made for it — the dial was refused or timed out, the TLS handshake
//! failed, a new connection closed before the server said a word (how a TLS 1.3 server
//! refusing this side's certificate, or wanting one, is learnt: after the dial), what answered
//! speaks another protocol (its first bytes are not erpc's: an HTTP server at that port), the
//! server never answered a new connection's PING, or every instance is backing off after
//! such failures.
//!
//! Tools tell "could not connect" from "the server answered an error" by it
//! (`grpc_health_probe`'s exit codes 2 and 3: `erpc health`). It is not proof that the
//! server did nothing: a connection closed before its server's first word may have carried
//! the request (a server dying on it); retry policies judge by whether the request was sent
//! (`client::fail_mode`). It is a flag of the client's, not part of the status's value: it
//! is not compared, and never travels — a server passing on such a status from a call of
//! its own sends it unmarked, since its caller did reach a server.

use crate::status::Status;

impl Status {
    /// This status marked as a [connect failure](Status::is_connect_failure). Statuses made
    /// from it with [`Status::new`] (a reworded message) are not marked: mark them again.
    pub fn from_connect_failure(mut self) -> Status {
        self.connect_failure = true;
        self
    }

    /// Whether the call failed because no working connection to a server could be made for
    /// it: the dial was refused or timed out, the TLS handshake failed (a server refusing
    /// this side's certificate, or wanting one, included), a new connection closed before
    /// the server sent anything, what answered speaks another protocol (an HTTP server at
    /// that port), the server never answered a new connection's PING, or
    /// every instance of the service was backing off after such failures (see the module
    /// docs). `false` for every status a server sent.
    pub fn is_connect_failure(&self) -> bool {
        self.connect_failure
    }

    /// This status marked as the client's refusal when no instance could take the call
    /// now: every one backing off after failed dials, every one's circuit breaker open, or
    /// every one `NOT_SERVING`. A fail mode does not retry it — the same refusal would meet
    /// the retry, and its backoff would only delay the answer
    /// ([`crate::client::fail_mode::retry_allowed`]).
    pub(crate) fn no_instance_now(mut self) -> Status {
        self.no_instance = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use crate::status::Status;

    #[test]
    fn the_mark_is_kept_by_clones_and_not_compared() {
        let marked = Status::unavailable("cannot connect").from_connect_failure();
        assert!(marked.is_connect_failure());
        assert!(marked.clone().is_connect_failure());
        assert_eq!(marked, Status::unavailable("cannot connect"));
        assert!(!Status::unavailable("cannot connect").is_connect_failure());
    }
}
