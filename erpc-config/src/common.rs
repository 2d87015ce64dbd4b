//! Settings shared by servers and clients: heartbeats, size limits, codec and compression
//! names.

use std::time::Duration;

use erpc_core::config::HeartbeatConfig;
use erpc_core::protocol::Limits;
use erpc_core::{CodecId, CompressionId};
use serde::Deserialize;

/// `Deserialize` for a unit enum written as one of its names, whose error lists them all
/// (serde's derived one names only the enum's Rust type).
macro_rules! named {
    ($ty:ident { $($variant:ident = $name:literal),+ $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                match name.as_str() {
                    $($name => Ok($ty::$variant),)+
                    other => Err(serde::de::Error::custom(format!(
                        concat!("expected one of ", $($name, " ",)+ "found {:?}"),
                        other
                    ))),
                }
            }
        }
    };
}
pub(crate) use named;

/// `heartbeat:` — liveness checking (PROTOCOL.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatSettings {
    /// A PING after this long without a frame. Default `15s`; 10 ms to 24 h.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Silent intervals before the peer is declared dead (the first sends a PING). Default
    /// 3; at least 2.
    pub misses: u32,
}

impl Default for HeartbeatSettings {
    fn default() -> Self {
        let d = HeartbeatConfig::default();
        HeartbeatSettings {
            interval: d.interval,
            misses: d.misses,
        }
    }
}

impl HeartbeatSettings {
    pub(crate) fn config(&self) -> HeartbeatConfig {
        HeartbeatConfig {
            interval: self.interval,
            misses: self.misses,
        }
    }

    /// The code's rule ([`HeartbeatConfig::check`]): 10 ms to 24 h, at least 2 misses.
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        self.config().check().map_err(|(setting, why)| {
            let key = setting.strip_prefix("heartbeat.").unwrap_or(setting);
            (format!("{at}.{key}"), why)
        })
    }
}

/// `limits:` — sizes accepted from the peer (bytes), as `erpc_core::protocol::Limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// Largest body on the wire. Default 4 MiB (4194304).
    pub max_body: u32,
    /// Largest body after decompression. Default 4 MiB.
    pub max_decompressed: usize,
    /// Largest header block. Default 16 KiB.
    pub max_head: u32,
    /// Most metadata entries per call. Default 64.
    pub max_metadata_entries: usize,
    /// Most bytes skipped of refused bodies per connection. Default 64 MiB.
    pub max_discard: u64,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        let d = Limits::default();
        LimitsSettings {
            max_body: d.max_body,
            max_decompressed: d.max_decompressed,
            max_head: d.max_head,
            max_metadata_entries: d.max_metadata_entries,
            max_discard: d.max_discard,
        }
    }
}

impl LimitsSettings {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_body: self.max_body,
            max_decompressed: self.max_decompressed,
            max_head: self.max_head,
            max_metadata_entries: self.max_metadata_entries,
            max_discard: self.max_discard,
        }
    }

    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        for (name, value) in [
            ("max_body", u64::from(self.max_body)),
            ("max_decompressed", self.max_decompressed as u64),
            ("max_head", u64::from(self.max_head)),
        ] {
            if value == 0 {
                return Err((format!("{at}.{name}"), "must be above zero".into()));
            }
        }
        Ok(())
    }
}

/// A codec by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodecName {
    /// MessagePack (id 1; the default).
    #[default]
    Msgpack,
    /// JSON (id 2).
    Json,
    /// Protocol Buffers (id 3).
    Protobuf,
    /// Raw bytes (id 0).
    Raw,
}

impl CodecName {
    /// Its id.
    pub fn id(self) -> CodecId {
        match self {
            CodecName::Msgpack => CodecId::MSGPACK,
            CodecName::Json => CodecId::JSON,
            CodecName::Protobuf => CodecId::PROTOBUF,
            CodecName::Raw => CodecId::RAW,
        }
    }
}

/// A compression by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionName {
    /// None (the default).
    #[default]
    None,
    /// gzip (id 1).
    Gzip,
    /// zlib (id 2).
    Zlib,
    /// zstd (id 3).
    Zstd,
}

impl CompressionName {
    /// Its id.
    pub fn id(self) -> CompressionId {
        match self {
            CompressionName::None => CompressionId::NONE,
            CompressionName::Gzip => CompressionId::GZIP,
            CompressionName::Zlib => CompressionId::ZLIB,
            CompressionName::Zstd => CompressionId::ZSTD,
        }
    }
}

named!(CodecName {
    Msgpack = "msgpack",
    Json = "json",
    Protobuf = "protobuf",
    Raw = "raw",
});

named!(CompressionName {
    None = "none",
    Gzip = "gzip",
    Zlib = "zlib",
    Zstd = "zstd",
});

/// The smallest stream window the protocol allows (its initial window, 256 KiB).
pub(crate) fn check_window(window: u32, key: &str) -> Result<(), (String, String)> {
    erpc_core::config::check_stream_window(window).map_err(|why| (key.to_owned(), why))
}
