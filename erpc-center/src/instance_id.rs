//! What an instance id may be, whatever keeps it — the center's memory and redb stores, etcd
//! (the center's `etcd://` store and `registries::etcd::EtcdRegistry`, feature `etcd`),
//! ZooKeeper (`registries::zookeeper::ZooKeeperRegistry`, feature `zookeeper`, which also
//! refuses `/` in a node name): not empty or blank, no control character. A `/` is fine
//! elsewhere: a server's default id is its first address (`tcp://10.0.0.7:7001`).

use erpc_core::Status;

/// `Ok` if `id` can be the id of an instance of `service`; else why not
/// (`invalid_argument`, naming both).
pub fn check(service: &str, id: &str) -> Result<(), Status> {
    let why = if id.is_empty() {
        "is empty: an instance needs an id"
    } else if id.trim().is_empty() {
        "is blank (only whitespace): an instance needs an id"
    } else if id.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(Status::invalid_argument(format!(
        "instance id {id:?} of {service:?} {why}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_need_a_printable_character_and_may_be_addresses() {
        for good in ["a", "i-1", "tcp://10.0.0.7:7001", "host name"] {
            assert!(check("svc", good).is_ok(), "{good}");
        }
        for bad in ["", " ", "\t", "a\nb", "a\u{0}b", "a\u{7f}"] {
            let e = check("svc", bad).expect_err(bad);
            assert!(e.message().starts_with("instance id "), "{e}");
        }
    }
}
