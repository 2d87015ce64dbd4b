//! Unix domain sockets.

use std::io;
use std::path::{Path, PathBuf};

use crate::link::{Link, PeerAddr};

/// A bound Unix-socket listener. The socket file is removed when the listener is dropped.
#[derive(Debug)]
pub struct UnixListener {
    inner: tokio::net::UnixListener,
    path: PathBuf,
}

impl UnixListener {
    /// Bind `path` with room for `backlog` connections not yet accepted
    /// ([`crate::Options::backlog`]). A stale socket file left by a dead process is
    /// replaced; a live one is an `AddrInUse` error.
    pub async fn bind(path: &Path, backlog: u32) -> io::Result<Self> {
        let listen = || {
            let socket = tokio::net::UnixSocket::new_stream()?;
            socket.bind(path)?;
            socket.listen(backlog)
        };
        let inner = match listen() {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                if tokio::net::UnixStream::connect(path).await.is_ok() {
                    return Err(e);
                }
                std::fs::remove_file(path)?;
                listen()?
            }
            Err(e) => return Err(e),
        };
        Ok(UnixListener {
            inner,
            path: path.to_owned(),
        })
    }

    /// Accept one peer.
    pub async fn accept(&mut self) -> io::Result<Link> {
        let (stream, peer) = self.inner.accept().await?;
        Ok(Link::new(
            Box::new(stream),
            PeerAddr::Unix(peer.as_pathname().map(Path::to_owned)),
        ))
    }
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Connect to the socket at `path`.
pub async fn connect(path: &Path) -> io::Result<Link> {
    let stream = tokio::net::UnixStream::connect(path).await?;
    Ok(Link::new(
        Box::new(stream),
        PeerAddr::Unix(Some(path.to_owned())),
    ))
}
