//! The streaming part of the tour: a live counter (server streaming), a chat that answers
//! every line as it arrives (bidirectional) and a news feed the server pushes to (with a
//! drop-oldest policy, so a slow reader hears how much it missed).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use erpc::stream::push::{self, Overflow, Pusher};
use erpc::{Event, ServerStream, Status, Streaming};
use futures_util::StreamExt;

#[erpc::service(name = "demo.Ticker")]
pub trait Ticker {
    /// `to` ticks, one every `every_ms` milliseconds.
    async fn count(&self, to: u32, every_ms: u64) -> Result<ServerStream<u32>, Status>;
    /// Answers each line as it arrives, while the client is still sending.
    async fn chat(&self, lines: Streaming<String>) -> Result<ServerStream<String>, Status>;
    /// Subscribe to the news; the server pushes whenever it has some.
    async fn news(&self) -> Result<ServerStream<String>, Status>;
}

/// The news subscribers, for the server to push to.
#[derive(Clone, Default)]
pub struct TickerImpl {
    pub subscribers: Arc<Mutex<Vec<Pusher<String>>>>,
}

impl Ticker for TickerImpl {
    async fn count(&self, to: u32, every_ms: u64) -> Result<ServerStream<u32>, Status> {
        let ticks = futures_util::stream::iter(1..=to).then(move |n| async move {
            tokio::time::sleep(Duration::from_millis(every_ms)).await;
            Ok(n)
        });
        Ok(ServerStream::new(ticks))
    }

    async fn chat(&self, lines: Streaming<String>) -> Result<ServerStream<String>, Status> {
        Ok(ServerStream::new(lines.map(|line| {
            line.map(|line| format!("you said {line:?} ({} letters)", line.len()))
        })))
    }

    async fn news(&self) -> Result<ServerStream<String>, Status> {
        let (pusher, stream) = push::channel(4, Overflow::DropOldest);
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(pusher);
        Ok(stream)
    }
}

/// Run the streaming section of the tour against a server serving `ticker`.
pub async fn tour(
    client: erpc::Client,
    ticker: &TickerImpl,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = TickerClient::new(client);

    println!("  server streaming: count(5), a tick every 20 ms");
    let started = std::time::Instant::now();
    let mut ticks = client.count(5, 20).await?;
    while let Some(n) = ticks.message().await? {
        println!("    tick {n} at {:>4} ms", started.elapsed().as_millis());
    }

    println!("  bidirectional: a chat, each answer arriving before the next line is sent");
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(1);
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (line, rx))
    });
    let mut answers = client.chat(lines).await?;
    for line in ["hello", "how are streams?", "bye"] {
        tx.send(line.to_string()).await?;
        println!("    > {line}");
        if let Some(answer) = answers.message().await? {
            println!("    < {answer}");
        }
    }
    drop(tx);
    assert!(answers.message().await?.is_none());

    println!("  server push: 10 headlines pushed at a subscriber that is not reading yet");
    let mut news = client.news().await?;
    let pusher = loop {
        if let Some(p) = ticker
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
        {
            break p;
        }
        tokio::task::yield_now().await;
    };
    for n in 1..=10 {
        pusher.send(format!("headline {n}")).await?;
    }
    drop(pusher);
    while let Some(event) = news.event().await? {
        match event {
            Event::Message(headline) => println!("    {headline}"),
            Event::Dropped(n) => {
                println!("    ({n} older headlines dropped: this reader was slow)")
            }
        }
    }
    Ok(())
}
