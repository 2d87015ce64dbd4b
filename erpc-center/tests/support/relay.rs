//! A TCP relay that can be cut and healed: a network partition between one client and a
//! server, while everyone else still reaches it. It can also hold every chunk for a delay,
//! standing in for the latency of a link between data centers (this machine's kernel has no
//! `netem` qdisc to delay packets).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Relays `tcp://` connections to a target until cut.
pub struct Relay {
    /// Where to connect instead of the target (`tcp://127.0.0.1:PORT`).
    pub addr: String,
    cut: Arc<AtomicBool>,
    pipes: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
    target: Arc<Mutex<String>>,
    hold: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

impl Relay {
    /// A relay to `target` (`tcp://host:port`).
    pub async fn to(target: &str) -> Relay {
        Relay::delayed(target, Duration::ZERO).await
    }

    /// A relay to `target` that holds each chunk, in each direction, for `delay` before
    /// passing it on (order kept; throughput not limited). `target` may be "" and given
    /// later ([`Relay::point_to`]): connections meanwhile go nowhere.
    pub async fn delayed(target: &str, delay: Duration) -> Relay {
        let target = Arc::new(Mutex::new(target.trim_start_matches("tcp://").to_owned()));
        let to = target.clone();
        let hold = Arc::new(AtomicBool::new(false));
        let holding = hold.clone();
        let stalled = Arc::new(AtomicBool::new(false));
        let stalling = stalled.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("tcp://{}", listener.local_addr().unwrap());
        let cut = Arc::new(AtomicBool::new(false));
        let pipes: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (c, p) = (cut.clone(), pipes.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    // Cut: the connection goes nowhere.
                    continue;
                }
                let (to, holding, stalling) = (to.clone(), holding.clone(), stalling.clone());
                let pipe = tokio::spawn(async move {
                    while holding.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    let target = to.lock().unwrap().clone();
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    if delay.is_zero() {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                    let (in_read, in_write) = inbound.split();
                    let (out_read, out_write) = outbound.split();
                    // Either direction ending ends the connection.
                    tokio::select! {
                        _ = held(in_read, out_write, delay, &stalling) => {}
                        _ = held(out_read, in_write, delay, &stalling) => {}
                    }
                });
                p.lock().unwrap().push(pipe.abort_handle());
            }
        })
        .abort_handle();
        Relay {
            addr,
            cut,
            pipes,
            accept,
            target,
            hold,
            stalled,
        }
    }

    /// While `on`, accept new connections but hold them (nothing read, nothing passed on)
    /// until released, then connect them to the target as it is then: the target can be
    /// restarted behind a client that is reconnecting.
    pub fn hold_new(&self, on: bool) {
        self.hold.store(on, Ordering::SeqCst);
    }

    /// A silent partition (packets dropped, no reset), for a delayed relay: while `on`,
    /// relayed connections pass nothing on (what they read is held) and new ones are held
    /// unconnected; off, everything held goes on.
    pub fn stall(&self, on: bool) {
        self.stalled.store(on, Ordering::SeqCst);
        self.hold_new(on);
    }

    /// Relay new connections to `target` (`tcp://host:port`) from now on.
    pub fn point_to(&self, target: &str) {
        *self.target.lock().unwrap() = target.trim_start_matches("tcp://").to_owned();
    }

    /// Partition: close every relayed connection and refuse new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    /// Heal the partition.
    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Copy `from` to `to`, each chunk written `delay` after it was read, and not while
/// `stalled`.
async fn held(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    delay: Duration,
    stalled: &AtomicBool,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if tx
                .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
    };
    let write = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            while stalled.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    // The writer drains what was read before the reader's end.
    tokio::join!(read, write);
}
