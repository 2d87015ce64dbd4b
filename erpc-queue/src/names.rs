//! The rules a subject and a consumer group's name follow (QUEUE.md §1), checked where they
//! are given — the bridge's configuration, `QueueClient::connect` — so that a bad name fails
//! at once naming the rule, not later as a raw server error or a call that times out.

/// Why `subject` (`what`: "requests", "reply_to", …) cannot be used: it must start with
/// `erpc.` (the NATS stream holds `erpc.>`; RabbitMQ follows the same rule so one
/// configuration works on both) and consist of tokens of ASCII letters, digits, `-` and `_`
/// separated by single dots.
pub fn check_subject(what: &str, subject: &str) -> Result<(), String> {
    let rule = "a subject is `erpc.` then tokens of ASCII letters, digits, `-` and `_` separated by single dots (no spaces, no wildcards)";
    if !subject.starts_with("erpc.") {
        return Err(format!(
            "{what} {subject:?} does not start with `erpc.`: {rule}"
        ));
    }
    if subject.split('.').any(|token| !is_token(token)) {
        return Err(format!("{what} {subject:?} is not a valid subject: {rule}"));
    }
    Ok(())
}

/// Why `group` cannot name a consumer group: one token of ASCII letters, digits, `-` and
/// `_` (a NATS durable consumer's name allows no dot, space or wildcard).
pub fn check_group(group: &str) -> Result<(), String> {
    if is_token(group) {
        Ok(())
    } else {
        Err(format!(
            "group {group:?} is not a valid consumer group name: ASCII letters, digits, `-` and `_` only (no spaces, no dots), not empty"
        ))
    }
}

fn is_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_spaces_or_outside_erpc_are_refused_naming_the_rule() {
        assert!(check_subject("requests", "erpc.requests").is_ok());
        assert!(check_subject("reply_to", "erpc.replies.a-b_c1").is_ok());
        for bad in [
            "erpc.bad subject",
            "orders.new",
            "erpc.",
            "erpc..x",
            "erpc.*",
            "erpc.>",
        ] {
            let err = check_subject("reply_to", bad).unwrap_err();
            assert!(err.contains("erpc.") && err.contains(bad), "{err}");
        }
        assert!(check_group("erpc-bridge").is_ok());
        for bad in ["bad group", "", "a.b", "a*"] {
            let err = check_group(bad).unwrap_err();
            assert!(err.contains("no spaces"), "{err}");
        }
    }
}
