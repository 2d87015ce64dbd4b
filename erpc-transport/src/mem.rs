//! An in-process transport: named listeners in a process-wide table, connected by
//! `tokio::io::duplex` pipes. For tests, and for users testing their own services without a
//! network.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::mpsc;

use crate::link::{Link, PeerAddr};

/// Bytes buffered in each direction of an in-memory pipe.
const PIPE_CAPACITY: usize = 256 * 1024;

type Registry = Mutex<HashMap<String, mpsc::Sender<Link>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// A bound in-memory listener; its name is free again once it is dropped.
#[derive(Debug)]
pub struct MemListener {
    name: String,
    incoming: mpsc::Receiver<Link>,
}

impl MemListener {
    /// Bind `name`; fails with `AddrInUse` if a live listener holds it.
    pub fn bind(name: &str) -> io::Result<Self> {
        let mut table = registry().lock().unwrap_or_else(|p| p.into_inner());
        if table.get(name).is_some_and(|tx| !tx.is_closed()) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("mem://{name} is already bound"),
            ));
        }
        let (tx, incoming) = mpsc::channel(1024);
        table.insert(name.to_owned(), tx);
        Ok(MemListener {
            name: name.to_owned(),
            incoming,
        })
    }

    /// Accept one peer.
    pub async fn accept(&mut self) -> io::Result<Link> {
        match self.incoming.recv().await {
            Some(link) => Ok(link),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "listener closed",
            )),
        }
    }
}

impl Drop for MemListener {
    fn drop(&mut self) {
        // Close first: the table entry is ours exactly when its sender now reports closed (a
        // listener that rebound the name would hold an open channel).
        self.incoming.close();
        let mut table = registry().lock().unwrap_or_else(|p| p.into_inner());
        if table.get(&self.name).is_some_and(|tx| tx.is_closed()) {
            table.remove(&self.name);
        }
    }
}

/// Connect to the listener named `name`.
pub async fn connect(name: &str) -> io::Result<Link> {
    static NEXT_PEER: AtomicU64 = AtomicU64::new(1);
    let tx = {
        let table = registry().lock().unwrap_or_else(|p| p.into_inner());
        table.get(name).cloned()
    };
    let refused = || {
        io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("no listener at mem://{name}"),
        )
    };
    let tx = tx.ok_or_else(refused)?;
    let (client, server) = tokio::io::duplex(PIPE_CAPACITY);
    let id = NEXT_PEER.fetch_add(1, Ordering::Relaxed);
    tx.send(Link::new(Box::new(server), PeerAddr::Mem(id)))
        .await
        .map_err(|_| refused())?;
    Ok(Link::new(Box::new(client), PeerAddr::Mem(0)))
}
