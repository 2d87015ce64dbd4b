//! The streaming part of the tour: a live counter (server streaming), a chat that answers
//! every line as it arrives (bidirectional) and a news feed the server pushes to (with a
//! drop-oldest policy, so a slow reader hears how much it missed).

use std::time::Duration;

use erpc::stream::push::{self, Overflow, Pusher};
use erpc::{Event, ServerStream, Status, Streaming};
use futures_util::StreamExt;
use tokio::sync::mpsc;

#[erpc::service(name = "demo.Ticker")]
pub trait Ticker {
    /// `to` ticks, one every `every_ms` milliseconds.
    async fn count(&self, to: u32, every_ms: u64) -> Result<ServerStream<u32>, Status>;
    /// Answers each line as it arrives, while the client is still sending.
    async fn chat(&self, lines: Streaming<String>) -> Result<ServerStream<String>, Status>;
    /// Subscribe to the news; the server pushes whenever it has some.
    async fn news(&self) -> Result<ServerStream<String>, Status>;
}

/// The service; each news subscription's pusher goes to the [`Newsroom`].
pub struct TickerImpl {
    subscribers: mpsc::UnboundedSender<Pusher<String>>,
}

/// Where the server's news comes from: it gets a pusher per subscriber.
pub struct Newsroom {
    subscribed: mpsc::UnboundedReceiver<Pusher<String>>,
}

impl TickerImpl {
    /// The service and its newsroom.
    pub fn new() -> (TickerImpl, Newsroom) {
        let (subscribers, subscribed) = mpsc::unbounded_channel();
        (TickerImpl { subscribers }, Newsroom { subscribed })
    }
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
        // Only fails once the newsroom is gone, and then nobody would push anyway.
        let _ = self.subscribers.send(pusher);
        Ok(stream)
    }
}

/// Run the streaming section of the tour against a server serving `ticker`.
pub async fn tour(
    client: erpc::Client,
    newsroom: &mut Newsroom,
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
    let pusher = newsroom
        .subscribed
        .recv()
        .await
        .ok_or("the service stopped")?;
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
