//! Client and server settings, with the defaults of ARCHITECTURE.md.

use std::time::Duration;

use erpc_codec::CodecId;
use erpc_codec::compression::CompressionId;

use crate::protocol::{CompressionList, Limits};

/// The longest wait a setting may give a call — for its turn under a rate limit, for a slot
/// under a cap on calls in flight, before a retry — and the longest reconnect backoff: an
/// hour. A call waiting longer would outlive any deadline worth giving it, and a longer
/// wait overflows the clock where its timer is set. Builders refuse more (a panic naming
/// the setting), as the config file does ([`check_wait`]).
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// Whether `wait` can be a call's wait `what` ("for a turn", "for a slot", "before a
/// retry"): at most [`MAX_WAIT`]. The builders that take a wait check it; the config crate
/// reports it against the file's key.
///
/// # Errors
/// Why not: `"must be at most 1h (the longest wait for a turn), got 2h: ..."`.
pub fn check_wait(wait: Duration, what: &str) -> Result<(), String> {
    if wait > MAX_WAIT {
        return Err(format!(
            "must be at most 1h (the longest wait {what}), got {}: a call waiting longer \
             would outlive any deadline worth giving it",
            crate::human::duration(wait)
        ));
    }
    Ok(())
}

/// Whether `initial` and `max` can be a reconnect backoff ([`ClientConfig::backoff_initial`],
/// [`ClientConfig::backoff_max`]): `max` at most [`MAX_WAIT`], `initial` at most `max`.
/// [`crate::ClientBuilder::backoff`] checks it; the config crate reports it against the
/// file's key.
///
/// # Errors
/// The setting at fault (`"backoff.max"` or `"backoff.initial"`) and why.
pub fn check_backoff(initial: Duration, max: Duration) -> Result<(), (&'static str, String)> {
    if max > MAX_WAIT {
        return Err((
            "backoff.max",
            format!(
                "must be at most 1h (the longest reconnect backoff), got {}: a server back \
                 sooner would wait that long to be dialled again",
                crate::human::duration(max)
            ),
        ));
    }
    if initial > max {
        return Err((
            "backoff.initial",
            format!("{initial:?} is above backoff.max {max:?}"),
        ));
    }
    Ok(())
}

/// `Err((setting, "must be above zero"))` where `zero`: the words of every "above zero"
/// rule, the builders' and the config file's.
pub(crate) fn above_zero(setting: &'static str, zero: bool) -> Result<(), (&'static str, String)> {
    if zero {
        return Err((setting, "must be above zero".into()));
    }
    Ok(())
}

/// Whether `bytes` can be a stream's flow-control window ([`ClientConfig::stream_window`],
/// [`ServerConfig::stream_window`]): at least the protocol's initial window, 256 KiB, which
/// every stream starts with before any WINDOW frame, and at most 2^31 − 1, the largest a
/// window may grow (PROTOCOL.md; a peer closes a connection whose window grows past it).
///
/// # Errors
/// Why not: `"must be at least 262144 (256 KiB, the protocol's initial window), got 1024"`.
pub fn check_stream_window(bytes: u32) -> Result<(), String> {
    let initial = crate::protocol::INITIAL_WINDOW;
    if bytes < initial {
        return Err(format!(
            "must be at least {initial} (256 KiB, the protocol's initial window), got {bytes}"
        ));
    }
    if bytes > MAX_STREAM_WINDOW {
        return Err(format!(
            "must be at most {MAX_STREAM_WINDOW} (2^31 - 1, the largest window the protocol \
             allows), got {bytes}"
        ));
    }
    Ok(())
}

/// The largest stream window the protocol allows: 2^31 − 1 bytes (PROTOCOL.md).
pub const MAX_STREAM_WINDOW: u32 = (1 << 31) - 1;

/// The shortest heartbeat interval: shorter, a peer on a loaded machine misses its PONG's
/// deadline by scheduling alone and a healthy connection is declared dead.
pub const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(10);

/// The longest heartbeat interval, and the longest connect and first-frame timeouts: a
/// day. A longer one is no heartbeat at all, and overflows the clock where its timer is set.
pub const MAX_TIMER: Duration = Duration::from_secs(24 * 3600);

/// Whether `value` can be the timer `setting` (a heartbeat interval, a connect or first-frame
/// timeout): at most [`MAX_TIMER`], a day.
///
/// # Errors
/// `(setting, "must be at most 24h, got ...")`.
pub fn at_most_a_day(setting: &'static str, value: Duration) -> Result<(), (&'static str, String)> {
    if value > MAX_TIMER {
        return Err((setting, format!("must be at most 24h, got {value:?}")));
    }
    Ok(())
}

/// Whether `connections` can be a server's `max_connections`: at most tokio's semaphore's
/// limit (2^61 − 1), which counts them.
///
/// # Errors
/// `("max_connections", why)`.
pub fn check_max_connections(connections: usize) -> Result<(), (&'static str, String)> {
    let most = tokio::sync::Semaphore::MAX_PERMITS;
    if connections > most {
        return Err((
            "max_connections",
            format!("must be at most {most} (2^61 - 1), got {connections}"),
        ));
    }
    Ok(())
}

/// Panic with `who`'s name and the setting's if `rule` refused it: how the builders refuse
/// what the config file refuses (a setting that cannot work is a programming error, as in
/// tokio's and tower's builders).
#[track_caller]
pub(crate) fn refuse(who: &str, method: &str, rule: Result<(), (&'static str, String)>) {
    if let Err((setting, why)) = rule {
        panic!("{who}::{method}: {setting} {why}");
    }
}

/// The builder setters of the settings client and server share (`self.config` is a
/// [`ClientConfig`] or a [`ServerConfig`]): every limit and the stream and heartbeat settings,
/// so that raising one never means replacing the whole configuration.
macro_rules! shared_setters {
    () => {
        /// Every size limit at once. See [`crate::protocol::Limits`].
        ///
        /// # Panics
        /// If [`crate::protocol::Limits::check`] refuses them (a zero body or header size).
        #[track_caller]
        pub fn limits(mut self, limits: $crate::protocol::Limits) -> Self {
            $crate::config::refuse(Self::WHO, "limits", limits.check());
            self.config.limits = limits;
            self
        }

        /// Largest body accepted from the peer and sent to it, in bytes (`limits.max_body`).
        /// Default 4 MiB.
        ///
        /// # Panics
        /// If `bytes` is 0; the config file refuses it too.
        #[track_caller]
        pub fn max_body(mut self, bytes: u32) -> Self {
            let limits = $crate::protocol::Limits {
                max_body: bytes,
                ..self.config.limits
            };
            $crate::config::refuse(Self::WHO, "max_body", limits.check());
            self.config.limits = limits;
            self
        }

        /// Largest body after decompression, in bytes (`limits.max_decompressed`). Default
        /// 4 MiB.
        ///
        /// # Panics
        /// If `bytes` is 0; the config file refuses it too.
        #[track_caller]
        pub fn max_decompressed(mut self, bytes: usize) -> Self {
            let limits = $crate::protocol::Limits {
                max_decompressed: bytes,
                ..self.config.limits
            };
            $crate::config::refuse(Self::WHO, "max_decompressed", limits.check());
            self.config.limits = limits;
            self
        }

        /// Largest header block (names, deadline, metadata, status) in bytes
        /// (`limits.max_head`). Default 16 KiB; a peer with the default refuses more.
        ///
        /// # Panics
        /// If `bytes` is 0; the config file refuses it too.
        #[track_caller]
        pub fn max_head(mut self, bytes: u32) -> Self {
            let limits = $crate::protocol::Limits {
                max_head: bytes,
                ..self.config.limits
            };
            $crate::config::refuse(Self::WHO, "max_head", limits.check());
            self.config.limits = limits;
            self
        }

        /// Most metadata entries in one header block (`limits.max_metadata_entries`).
        /// Default 64.
        pub fn max_metadata_entries(mut self, entries: usize) -> Self {
            self.config.limits.max_metadata_entries = entries;
            self
        }

        /// Frames over the limits up to this many bytes are skipped and only their call
        /// fails; larger ones close the connection (`limits.max_discard`). Default 64 MiB.
        pub fn max_discard(mut self, bytes: u64) -> Self {
            self.config.limits.max_discard = bytes;
            self
        }

        /// Liveness checking: a PING after `interval` of silence, the connection dropped
        /// after `misses` silent intervals. Default 15 s × 3.
        ///
        /// # Panics
        /// If `interval` is zero or `misses` is 0 ([`crate::config::HeartbeatConfig::check`]);
        /// the config file refuses them too.
        #[track_caller]
        pub fn heartbeat(mut self, interval: ::std::time::Duration, misses: u32) -> Self {
            let heartbeat = $crate::config::HeartbeatConfig { interval, misses };
            $crate::config::refuse(Self::WHO, "heartbeat", heartbeat.check());
            self.config.heartbeat = heartbeat;
            self
        }

        /// Bodies smaller than this many bytes are sent uncompressed. Default 1 KiB.
        pub fn compression_threshold(mut self, bytes: usize) -> Self {
            self.config.compression_threshold = bytes;
            self
        }

        /// Bytes the peer may have in flight on one stream before it waits for this side to
        /// consume them (at least, and by default, 256 KiB).
        ///
        /// # Panics
        /// If `bytes` is below 256 KiB ([`crate::config::check_stream_window`]); the config
        /// file refuses it too.
        #[track_caller]
        pub fn stream_window(mut self, bytes: u32) -> Self {
            $crate::config::refuse(
                Self::WHO,
                "stream_window",
                $crate::config::check_stream_window(bytes).map_err(|why| ("stream_window", why)),
            );
            self.config.stream_window = bytes;
            self
        }

        /// Frames that do no work accepted from the peer per heartbeat interval before the
        /// connection is closed. Default 1,000.
        pub fn max_junk_frames(mut self, frames: u32) -> Self {
            self.config.max_junk_frames = frames;
            self
        }
    };
}

/// Liveness checking: when nothing arrives for one `interval`, a PING is sent; after `misses`
/// silent intervals in a row the peer is declared dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// How often to check. Default 15 s.
    pub interval: Duration,
    /// Silent intervals before the connection is dropped. Default 3.
    pub misses: u32,
}

impl HeartbeatConfig {
    /// Whether this can be a heartbeat: an interval from [`MIN_HEARTBEAT_INTERVAL`] (10 ms)
    /// to [`MAX_TIMER`] (24 h) — it is the period of every connection's liveness timer — and
    /// at least two misses: the first silent interval only sends the PING, and the peer
    /// needs the next one to answer it (with one, a healthy peer that had nothing to send
    /// for an interval was declared dead unasked).
    ///
    /// # Errors
    /// The setting at fault (`"heartbeat.interval"`, `"heartbeat.misses"`) and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        above_zero("heartbeat.interval", self.interval.is_zero())?;
        if self.interval < MIN_HEARTBEAT_INTERVAL {
            return Err((
                "heartbeat.interval",
                format!(
                    "must be at least 10ms (a shorter one declares healthy peers on a busy \
                     machine dead), got {:?}",
                    self.interval
                ),
            ));
        }
        at_most_a_day("heartbeat.interval", self.interval)?;
        if self.misses < 2 {
            return Err((
                "heartbeat.misses",
                format!(
                    "must be at least 2 (the first silent interval sends a PING, the next \
                     waits for its answer), got {}",
                    self.misses
                ),
            ));
        }
        Ok(())
    }
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            interval: Duration::from_secs(15),
            misses: 3,
        }
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Connections opened to the peer; calls are spread across them. Default 1.
    pub connections: usize,
    /// Deadline of a unary or oneway call that sets none. Default 10 s (a call without a
    /// deadline is a leak).
    pub timeout: Duration,
    /// Deadline of a streaming call that sets none. Default `None`: a stream lives until
    /// either side ends or cancels it (as in gRPC), since watches and subscriptions are meant
    /// to. A stream opened inside a handler still inherits that handler's deadline.
    pub stream_timeout: Option<Duration>,
    /// Codec of a call that names none. Default MessagePack.
    pub codec: CodecId,
    /// Compression of a call that names none: applied to its request bodies (those of at
    /// least `compression_threshold` bytes) and asked of the server for its responses,
    /// whatever the request's size. Default none.
    pub compression: CompressionId,
    /// Compressions accepted in responses besides the call's own, most preferred first, for
    /// calls that name none. Sent with each request and stream opening when the call asks
    /// for a compression or this is not empty (PROTOCOL.md §6); a server uses one of these
    /// for a call that asks for none only if it is configured to prefer it
    /// ([`ServerConfig::response_compression`]). Every id must be supported by this build,
    /// or calls fail with `unimplemented`. Default empty.
    pub accept_compression: CompressionList,
    /// Bodies smaller than this are sent uncompressed whatever the call asks. Default 1 KiB.
    pub compression_threshold: usize,
    /// Sizes accepted from the server, and the largest body sent. See [`Limits`].
    pub limits: Limits,
    /// Liveness checking.
    pub heartbeat: HeartbeatConfig,
    /// Give up connecting after this long. Default 5 s.
    pub connect_timeout: Duration,
    /// The wait before reconnecting after a failed attempt is random: the first between this
    /// and three times it, each next one between this and three times the previous wait, at
    /// most `backoff_max` (decorrelated jitter, so clients that lost a server together do
    /// not redial together, and the wait follows the outage's length). Default 100 ms.
    pub backoff_initial: Duration,
    /// The largest ceiling of the wait between reconnect attempts. Default 5 s.
    pub backoff_max: Duration,
    /// Frames queued for a connection's writer before senders wait. Default 4096.
    pub write_queue: usize,
    /// Calls (unary and streaming; oneway calls are not counted, nothing waits for them)
    /// one connection carries at once; further calls wait for one to finish, within their
    /// deadline, instead of being sent and refused. Default 1,024: a server's default
    /// running-call cap ([`ServerConfig::max_in_flight`]) — set it to the server's cap if
    /// that differs, or open more `connections`.
    pub max_concurrent_calls: usize,
    /// Frames the protocol does not allow (pings, unanswered pongs, unknown kinds, frames
    /// only a client sends, oversized or malformed frames; PROTOCOL.md §8) accepted from the
    /// server per heartbeat interval before the connection is dropped. RESPONSEs and stream
    /// frames for calls this client gave up on never count. Default 1,000.
    pub max_junk_frames: u32,
    /// Bytes the server may have in flight on one stream before it waits for this client to
    /// consume them: the bound on a stream's receive buffer. At least (and by default) 256
    /// KiB, the protocol's initial window.
    pub stream_window: u32,
    /// Transport settings: TLS roots and client certificate (tls, wss, quic), the handshake
    /// deadline, the WebSocket message limit.
    pub transport: erpc_transport::Options,
}

impl ClientConfig {
    /// Whether these settings can work: what [`crate::ClientBuilder::config`] checks, and
    /// the config file too — every count and timeout above zero (a connect timeout of at
    /// most a day, [`MAX_TIMER`]), the backoff
    /// ([`check_backoff`]), the heartbeat ([`HeartbeatConfig::check`]), the limits
    /// ([`Limits::check`]) and the stream window ([`check_stream_window`]).
    ///
    /// # Errors
    /// The first setting at fault (`"timeout"`, `"heartbeat.interval"`) and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        above_zero("connections", self.connections == 0)?;
        above_zero("timeout", self.timeout.is_zero())?;
        above_zero("connect_timeout", self.connect_timeout.is_zero())?;
        at_most_a_day("connect_timeout", self.connect_timeout)?;
        above_zero(
            "stream_timeout",
            self.stream_timeout.is_some_and(|t| t.is_zero()),
        )?;
        above_zero("max_concurrent_calls", self.max_concurrent_calls == 0)?;
        above_zero("write_queue", self.write_queue == 0)?;
        check_backoff(self.backoff_initial, self.backoff_max)?;
        self.heartbeat.check()?;
        self.limits.check()?;
        check_stream_window(self.stream_window).map_err(|why| ("stream_window", why))
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connections: 1,
            timeout: Duration::from_secs(10),
            stream_timeout: None,
            codec: CodecId::MSGPACK,
            compression: CompressionId::NONE,
            accept_compression: CompressionList::new(),
            compression_threshold: 1024,
            limits: Limits::default(),
            heartbeat: HeartbeatConfig::default(),
            connect_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            write_queue: 4096,
            max_concurrent_calls: 1024,
            max_junk_frames: 1000,
            stream_window: crate::protocol::INITIAL_WINDOW,
            transport: erpc_transport::Options::default(),
        }
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Sizes accepted from clients. See [`Limits`].
    pub limits: Limits,
    /// Handlers running at once on one connection; further calls get `resource_exhausted`
    /// (oneway calls are dropped). Default 1,024. erpc's clients keep to it on their side
    /// ([`ClientConfig::max_concurrent_calls`], the same default): their extra calls wait for
    /// a slot instead of being sent and refused — raise both together.
    pub max_in_flight: usize,
    /// A new connection must deliver a whole first frame within this. Default 10 s.
    pub first_frame_timeout: Duration,
    /// Deadline of a unary or oneway request that carries none. Default 10 s.
    pub default_deadline: Duration,
    /// Longer deadlines of unary and oneway requests are clamped to this. Default 1 hour.
    /// Streams are not clamped: a watch is meant to live.
    pub max_deadline: Duration,
    /// Deadline of a stream whose STREAM_OPEN carries none. Default `None`: the stream lives
    /// until either side ends or cancels it, or the connection dies (PROTOCOL.md §13).
    pub default_stream_deadline: Option<Duration>,
    /// Liveness checking.
    pub heartbeat: HeartbeatConfig,
    /// Responses and stream messages smaller than this are sent uncompressed. Default 1 KiB.
    pub compression_threshold: usize,
    /// Compression of the responses (and stream messages) of calls that ask for none but
    /// accept this one in their accept-compression list (PROTOCOL.md §6). A call that asks
    /// for a compression gets that one instead. Must be supported by this build
    /// ([`crate::ServerBuilder::serve`] refuses it otherwise). Default none: such calls get
    /// uncompressed responses, as gRPC servers send unless configured.
    pub response_compression: CompressionId,
    /// Frames queued for a connection's writer before handlers wait. Default 4096. Also the
    /// most refusals answered from the read path may wait beyond a full queue: a client that
    /// leaves more unread is closed.
    pub write_queue: usize,
    /// How long a graceful shutdown waits for in-flight calls. Default 10 s.
    pub shutdown_grace: Duration,
    /// Frames the protocol does not allow (PROTOCOL.md §8: pings, unknown kinds, oversized or
    /// malformed frames, calls without a method, duplicate ids, cancels and stream frames
    /// for ids the client never used) accepted per heartbeat interval before the connection
    /// is closed. Refused calls and frames crossing a call's end never count. An idle client
    /// sends one or two. Default 1,000.
    pub max_junk_frames: u32,
    /// Calls a client may cancel rapidly — before they sent a stream message, within 1 s of
    /// arriving, with over a tenth of their deadline left — beyond those that completed,
    /// before the connection is closed (the HTTP/2 "rapid reset" attack). Default 2,048.
    pub max_cancel_debt: u64,
    /// Connections served at once; further ones get an ERROR frame (`unavailable`) and are
    /// closed. Default 10,000.
    pub max_connections: usize,
    /// Bytes a client may have in flight on one stream before it waits for the handler to
    /// consume them: the bound on a stream's receive buffer. At least (and by default) 256
    /// KiB, the protocol's initial window.
    pub stream_window: u32,
    /// Transport settings: the certificate (tls, wss, quic) and client CA for mTLS, the
    /// handshake deadline (a silent peer is dropped after it), the WebSocket message limit.
    pub transport: erpc_transport::Options,
    /// Run unary and oneway handlers on their connection's own task. Default `true`.
    ///
    /// With it, a connection's reader polls each handler once where it reads the call, and
    /// answers a handler that finishes in that poll without a task of its own (a task per
    /// call is what tonic and tarpc do: an allocation, the call's future moved into it, and
    /// a wake-up across tasks: about 2,800 instructions a call, BENCHMARKS.md). A handler
    /// still pending after the poll (it awaits I/O, a lock, a timer) goes on in a task of
    /// its own, as without this setting; cancellation, deadlines, shutdown and
    /// `max_in_flight` treat it as any call (a call that finished in its first poll never
    /// held a slot).
    ///
    /// The cost is the first poll's: while a handler computes in it, its connection reads
    /// nothing else; other connections are not held (on a multi-threaded runtime they run on
    /// other workers; on a current-thread runtime a spawned handler would hold the thread
    /// just as long). Because tokio wakes another worker to drive the runtime's I/O and
    /// timers only when a task is queued, and a call running on a worker queues none, each
    /// poll of a handler (inline or spawned) on a multi-threaded runtime is watched by a
    /// thread of erpc's (waking every 10 ms while
    /// calls come, every 250 ms after a second without one, and ending when no worker that
    /// made an inline call lives): one lasting 10 to 20 ms wakes another worker. On a multi-threaded runtime a first poll longer than 100 µs makes the
    /// connection spawn its calls for the next second, so handlers that compute for long
    /// still run in parallel on the runtime's workers, one call a second excepted. Calls
    /// that wait for a rate limit's turn or under [`crate::server::Workers`] are always
    /// spawned. Set `false` for a task per call: a server whose handlers block or compute
    /// for milliseconds before their first `.await` and must answer other calls of the same
    /// connection meanwhile.
    pub inline_calls: bool,
}

impl ServerConfig {
    /// Whether these settings can work: what [`crate::ServerBuilder::config`] checks, and
    /// the config file too — every count and timeout above zero, the heartbeat
    /// ([`HeartbeatConfig::check`]), the limits ([`Limits::check`]) and the stream window
    /// ([`check_stream_window`]), timers of at most a day ([`MAX_TIMER`]) and at most
    /// 2^61 − 1 connections. A `default_deadline` above `max_deadline` is clamped to it, as
    /// any deadline is (the config file refuses the pair when both are given).
    ///
    /// # Errors
    /// The first setting at fault (`"max_in_flight"`, `"heartbeat.interval"`) and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        above_zero("max_in_flight", self.max_in_flight == 0)?;
        above_zero("max_connections", self.max_connections == 0)?;
        check_max_connections(self.max_connections)?;
        above_zero("write_queue", self.write_queue == 0)?;
        above_zero("first_frame_timeout", self.first_frame_timeout.is_zero())?;
        at_most_a_day("first_frame_timeout", self.first_frame_timeout)?;
        above_zero("default_deadline", self.default_deadline.is_zero())?;
        above_zero("max_deadline", self.max_deadline.is_zero())?;
        above_zero(
            "default_stream_deadline",
            self.default_stream_deadline.is_some_and(|t| t.is_zero()),
        )?;
        self.heartbeat.check()?;
        self.limits.check()?;
        check_stream_window(self.stream_window).map_err(|why| ("stream_window", why))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            max_in_flight: 1024,
            first_frame_timeout: Duration::from_secs(10),
            default_deadline: Duration::from_secs(10),
            max_deadline: Duration::from_secs(3600),
            default_stream_deadline: None,
            heartbeat: HeartbeatConfig::default(),
            compression_threshold: 1024,
            response_compression: CompressionId::NONE,
            write_queue: 4096,
            shutdown_grace: Duration::from_secs(10),
            max_junk_frames: 1000,
            max_cancel_debt: 2048,
            max_connections: 10_000,
            stream_window: crate::protocol::INITIAL_WINDOW,
            transport: erpc_transport::Options::default(),
            inline_calls: true,
        }
    }
}
