//! The redial note: what a client adds to the message of a call it refused because the
//! instances it could use are backing off after failed dials — "; retrying in 236 ms" (one
//! instance), "; next retry in 1.2 s" (several) — beside the same wait as the status's
//! retry hint ([`Status::retry_after`]). True of a long-lived client, whose pool redials
//! then (and of a gateway, which sends the wait as `Retry-After`); a tool that exits after
//! its call leaves it out ([`Status::message_without_redial_note`]), as nothing will retry.

use std::time::Duration;

use crate::status::Status;

/// The note for a wait of `wait` until the soonest of `instances` backing-off instances is
/// dialled again.
pub(crate) fn redial_note(instances: usize, wait: Duration) -> String {
    let next = if instances > 1 {
        "next retry"
    } else {
        "retrying"
    };
    format!("; {next} in {}", crate::human::duration(wait))
}

impl Status {
    /// The message without the redial note a client adds to a call it refused while the
    /// instances backed off after failed dials (`cannot connect to tcp://10.0.0.7:7000:
    /// Connection refused (os error 111)` without `; retrying in 236 ms`): for a process
    /// that exits after the call, where no retry will follow. The whole message of any
    /// other status — one a server sent, or without the client's
    /// [connect-failure mark](Status::is_connect_failure) and retry hint.
    pub fn message_without_redial_note(&self) -> &str {
        let message = self.message();
        if !self.is_connect_failure() || self.retry_after().is_none() {
            return message;
        }
        ["; retrying in ", "; next retry in "]
            .iter()
            .filter_map(|note| message.rsplit_once(note))
            // The note is the message's end: a wait, nothing more.
            .find(|(_, wait)| !wait.contains(';'))
            .map_or(message, |(before, _)| before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(instances: usize) -> Status {
        let wait = Duration::from_millis(236);
        Status::unavailable(format!(
            "cannot connect to tcp://10.0.0.7:7000: refused{}",
            redial_note(instances, wait)
        ))
        .with_retry_after(wait)
        .from_connect_failure()
    }

    #[test]
    fn the_note_is_left_out_of_a_refusal_and_only_there() {
        for instances in [1, 3] {
            let status = refused(instances);
            assert!(status.message().contains(" in 236 ms"), "{status:?}");
            assert_eq!(
                status.message_without_redial_note(),
                "cannot connect to tcp://10.0.0.7:7000: refused"
            );
        }
        // The same words from a server (no mark) are its message, whole.
        let sent = Status::unavailable(refused(1).message()).with_retry_after(Duration::ZERO);
        assert_eq!(sent.message_without_redial_note(), sent.message());
        let plain = Status::unavailable("cannot connect").from_connect_failure();
        assert_eq!(plain.message_without_redial_note(), "cannot connect");
    }
}
