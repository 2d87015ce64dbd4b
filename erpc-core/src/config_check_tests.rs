//! The builders refuse what the config file refuses, in the same words: settings that parse
//! but cannot work (`ClientConfig::check`, `ServerConfig::check`).

use std::time::Duration;

use crate::config::{ClientConfig, HeartbeatConfig, ServerConfig};
use crate::engine::task_guard::refusal;
use crate::protocol::Limits;
use crate::{Client, Server};

/// The panic `f` ends in, which must be one.
fn refused<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> String {
    refusal(f).expect("refused")
}

#[test]
fn the_defaults_pass_their_own_checks() {
    assert_eq!(ClientConfig::default().check(), Ok(()));
    assert_eq!(ServerConfig::default().check(), Ok(()));
}

#[test]
fn a_zero_heartbeat_interval_is_refused_by_both_builders() {
    // Accepted, it panicked in every connection's reader: a zero timer period.
    let client = refused(|| Client::builder().heartbeat(Duration::ZERO, 3));
    assert_eq!(
        client,
        "ClientBuilder::heartbeat: heartbeat.interval must be above zero"
    );
    let server = refused(|| Server::builder().heartbeat(Duration::ZERO, 3));
    assert_eq!(
        server,
        "ServerBuilder::heartbeat: heartbeat.interval must be above zero"
    );
    let _ = Client::builder().heartbeat(Duration::from_millis(10), 2);
}

#[test]
fn a_heartbeat_needs_two_misses_and_ten_milliseconds_to_a_day() {
    // With one miss a peer that had nothing to send for an interval was declared dead at
    // the first silent tick, its PING never sent: every call longer than the interval
    // failed `unavailable` on a healthy connection.
    for misses in [0, 1] {
        assert_eq!(
            refused(move || Client::builder().heartbeat(Duration::from_secs(1), misses)),
            format!(
                "ClientBuilder::heartbeat: heartbeat.misses must be at least 2 (the first silent interval \
                 sends a PING, the next waits for its answer), got {misses}"
            )
        );
    }
    assert!(
        refused(|| Server::builder().heartbeat(Duration::from_millis(1), 3))
            .starts_with("ServerBuilder::heartbeat: heartbeat.interval must be at least 10ms")
    );
    // Accepted, it overflowed the clock in every connection's reader.
    assert_eq!(
        refused(|| Client::builder().heartbeat(Duration::MAX, 3)),
        format!(
            "ClientBuilder::heartbeat: heartbeat.interval must be at most 24h, got {:?}",
            Duration::MAX
        )
    );
}

#[test]
fn timers_over_a_day_are_refused_not_overflowed() {
    // Accepted, each panicked inside a call or a connection: "overflow when adding
    // duration to instant".
    assert!(
        refused(|| Client::builder().connect_timeout(Duration::MAX))
            .starts_with("ClientBuilder::connect_timeout: connect_timeout must be at most 24h")
    );
    assert!(
        refused(|| Server::builder().first_frame_timeout(Duration::MAX)).starts_with(
            "ServerBuilder::first_frame_timeout: first_frame_timeout must be at most 24h"
        )
    );
    let _ = Client::builder().connect_timeout(Duration::from_secs(24 * 3600));
}

#[test]
fn whole_configs_are_checked_as_the_setters_are() {
    let client = refused(|| {
        Client::builder().config(ClientConfig {
            heartbeat: HeartbeatConfig {
                interval: Duration::ZERO,
                misses: 3,
            },
            ..ClientConfig::default()
        })
    });
    assert_eq!(
        client,
        "ClientBuilder::config: heartbeat.interval must be above zero"
    );
    let timeout = refused(|| {
        Client::builder().config(ClientConfig {
            timeout: Duration::ZERO,
            ..ClientConfig::default()
        })
    });
    assert_eq!(timeout, "ClientBuilder::config: timeout must be above zero");
    let server = refused(|| {
        Server::builder().config(ServerConfig {
            max_in_flight: 0,
            ..ServerConfig::default()
        })
    });
    assert_eq!(
        server,
        "ServerBuilder::config: max_in_flight must be above zero"
    );
    let window = refused(|| {
        Server::builder().config(ServerConfig {
            stream_window: 1024,
            ..ServerConfig::default()
        })
    });
    assert_eq!(
        window,
        "ServerBuilder::config: stream_window must be at least 262144 (256 KiB, the \
         protocol's initial window), got 1024"
    );
}

#[test]
fn zero_body_and_header_sizes_are_refused() {
    assert_eq!(
        refused(|| Client::builder().max_body(0)),
        "ClientBuilder::max_body: limits.max_body must be above zero"
    );
    assert_eq!(
        refused(|| Server::builder().max_decompressed(0)),
        "ServerBuilder::max_decompressed: limits.max_decompressed must be above zero"
    );
    assert_eq!(
        refused(|| Server::builder().max_head(0)),
        "ServerBuilder::max_head: limits.max_head must be above zero"
    );
    let limits = Limits {
        max_head: 0,
        ..Limits::default()
    };
    assert_eq!(
        refused(|| Client::builder().limits(limits)),
        "ClientBuilder::limits: limits.max_head must be above zero"
    );
    // Counts may be zero: no metadata entries, nothing skipped.
    let _ = Client::builder().max_metadata_entries(0).max_discard(0);
}

#[test]
fn a_stream_window_below_the_initial_one_is_refused() {
    assert_eq!(
        refused(|| Client::builder().stream_window(64 * 1024)),
        "ClientBuilder::stream_window: stream_window must be at least 262144 (256 KiB, the protocol's \
         initial window), got 65536"
    );
    let _ = Server::builder().stream_window(256 * 1024);
    // Past 2^31 - 1 every stream's window grew past what the protocol allows, and the peer
    // closed the connection for it.
    assert_eq!(
        refused(|| Server::builder().stream_window(u32::MAX)),
        "ServerBuilder::stream_window: stream_window must be at most 2147483647 (2^31 - 1, the largest \
         window the protocol allows), got 4294967295"
    );
    let _ = Client::builder().stream_window(crate::config::MAX_STREAM_WINDOW);
}

#[test]
fn more_connections_than_a_semaphore_counts_are_refused() {
    // Accepted, `serve` panicked in tokio's semaphore.
    assert!(
        refused(|| Server::builder().max_connections(usize::MAX)).starts_with(
            "ServerBuilder::max_connections: max_connections must be at most 2305843009213693951"
        )
    );
}

#[test]
fn zero_stream_deadlines_are_refused() {
    assert_eq!(
        refused(|| Client::builder().stream_timeout(Duration::ZERO)),
        "ClientBuilder::stream_timeout: stream_timeout must be above zero"
    );
    assert_eq!(
        refused(|| Server::builder().default_stream_deadline(Duration::ZERO)),
        "ServerBuilder::default_stream_deadline: default_stream_deadline must be above zero"
    );
}

/// A shorter `max_deadline` alone is a server's usual wish: the default deadline is clamped
/// to it, as any deadline is, not refused (the config file refuses the pair when given).
#[tokio::test]
async fn a_default_deadline_above_the_maximum_is_clamped_to_it() {
    let config = ServerConfig {
        max_deadline: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    assert_eq!(config.check(), Ok(()));
    let server = Server::builder()
        .config(config)
        .serve(["tcp://127.0.0.1:0"])
        .await;
    assert!(server.is_ok(), "served");
}

#[test]
fn zero_timeouts_counts_and_deadlines_are_refused() {
    assert_eq!(
        refused(|| Client::builder().timeout(Duration::ZERO)),
        "ClientBuilder::timeout: timeout must be above zero"
    );
    for (refusal, setting) in [
        (
            refused(|| Server::builder().max_in_flight(0)),
            "max_in_flight",
        ),
        (
            refused(|| Server::builder().max_connections(0)),
            "max_connections",
        ),
        (
            refused(|| Server::builder().default_deadline(Duration::ZERO)),
            "default_deadline",
        ),
        (
            refused(|| Server::builder().max_deadline(Duration::ZERO)),
            "max_deadline",
        ),
        (
            refused(|| Server::builder().first_frame_timeout(Duration::ZERO)),
            "first_frame_timeout",
        ),
    ] {
        assert_eq!(
            refusal,
            format!("ServerBuilder::{setting}: {setting} must be above zero")
        );
    }
}
