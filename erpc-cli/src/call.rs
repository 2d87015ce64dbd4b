//! `erpc call`: one call of any method by name, in JSON. The method's kind comes from the
//! server's reflection; requests and responses are JSON (one document, or JSON lines for
//! streams). With `--codec msgpack` the call travels in MessagePack: the request's
//! `serde_json::Value` is encoded by that codec and the answer decoded into one.

use std::task::Poll;
use std::time::Duration;

use erpc_core::reflection::MethodKind;
use erpc_core::{CallOptions, Client, CodecId, Metadata};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::failure::{Failure, parse_json, parse_json_line};
use crate::reflect;

/// `SERVICE.METHOD` split at its last dot (service names may hold dots: `erpc.Reflection`).
pub fn split_method(full: &str) -> Result<(&str, &str), Failure> {
    match full.rsplit_once('.') {
        Some((service, method)) if !service.is_empty() && !method.is_empty() => {
            Ok((service, method))
        }
        _ => Err(Failure::usage(format!(
            "{full:?} is not SERVICE.METHOD (e.g. Greeter.hello)"
        ))),
    }
}

/// `--codec`: a codec a JSON value can travel in. Protobuf and raw carry only their own
/// message types (prost messages, bytes), which a JSON request cannot be turned into without
/// the message's definition: refused, saying so.
pub fn parse_codec(name: &str) -> Result<CodecId, String> {
    match name {
        "json" => Ok(CodecId::JSON),
        "msgpack" => Ok(CodecId::MSGPACK),
        "protobuf" | "raw" => Err(format!(
            "{name} carries only its own message types (prost messages, bytes), not a JSON value: use json or msgpack"
        )),
        other => Err(format!("unknown codec {other:?}: use json or msgpack")),
    }
}

/// The `-H key:value` headers as metadata (the value without the spaces after the colon), or
/// which header is bad input: not `key:value`, or a key outside the metadata key rule
/// (`erpc_core::metadata::check_key`: `Authorization` would travel, and never match the
/// `authorization` a server reads).
pub fn metadata(headers: &[String]) -> Result<Metadata, Failure> {
    let mut metadata = Metadata::new();
    for header in headers {
        let Some((key, value)) = header.split_once(':') else {
            return Err(Failure::usage(format!("-H {header:?} is not key:value")));
        };
        let key = key.trim();
        erpc_core::metadata::check_key(key)
            .map_err(|why| Failure::usage(format!("-H {header:?}: {why}")))?;
        metadata.insert(key.to_owned(), value.trim_start().to_owned());
    }
    Ok(metadata)
}

/// The options of every call: the codec (`--codec`, JSON by default), the `-H` metadata, the
/// timeout.
pub fn options(metadata: Metadata, timeout: Option<Duration>, codec: CodecId) -> CallOptions {
    CallOptions {
        timeout,
        metadata,
        codec: Some(codec),
        ..CallOptions::default()
    }
}

/// The method's kind: what reflection says (asked with the call's `metadata`, which may hold
/// the credentials the server wants on every call), else `asked` (`--kind`), else unary.
pub async fn kind(
    client: &Client,
    service: &str,
    method: &str,
    metadata: &Metadata,
    asked: Option<MethodKind>,
) -> Result<MethodKind, Failure> {
    if let Some(kind) = asked {
        return Ok(kind);
    }
    let described = reflect::method(client, service, method, metadata).await?;
    Ok(described.and_then(|m| m.kind).unwrap_or(MethodKind::Unary))
}

/// The one request: `arg`, or stdin when it is absent or `-`.
pub async fn request(arg: Option<&str>) -> Result<Value, Failure> {
    let (text, what) = arg_or_stdin(arg, "the request").await?;
    parse_json(&text, &what)
}

/// `arg`, or all of stdin when it is absent or `-`, and what to call it in messages: `what`,
/// or `what` "on stdin".
pub async fn arg_or_stdin(arg: Option<&str>, what: &str) -> Result<(String, String), Failure> {
    match arg {
        Some(text) if text != "-" => Ok((text.to_owned(), what.to_owned())),
        _ => {
            let mut text = String::new();
            tokio::io::stdin()
                .read_to_string(&mut text)
                .await
                .map_err(|e| Failure::usage(format!("reading {what} from stdin: {e}")))?;
            Ok((text, format!("{what} on stdin")))
        }
    }
}

/// The requests of a client or bidirectional stream: JSON lines of `arg`, or of stdin when
/// it is absent or `-` (read as they come, so a bidirectional call is interactive). Every
/// line is parsed before it is sent; a bad one cancels the call and ends the command with
/// exit code 2, naming the line.
async fn stream_requests(
    arg: Option<&str>,
) -> Result<tokio::sync::mpsc::Receiver<Result<Value, Failure>>, Failure> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    match arg {
        Some(text) if text != "-" => {
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            tokio::spawn(send_lines(
                futures_util::stream::iter(lines),
                "request line",
                tx,
            ));
        }
        _ => {
            let lines = tokio_stream_lines(tokio::io::BufReader::new(tokio::io::stdin()));
            tokio::spawn(send_lines(lines, "stdin line", tx));
        }
    }
    Ok(rx)
}

fn tokio_stream_lines<R: tokio::io::AsyncBufRead + Unpin + Send + 'static>(
    reader: R,
) -> impl futures_util::Stream<Item = String> + Send + Unpin {
    Box::pin(futures_util::stream::unfold(
        reader.lines(),
        |mut lines| async move {
            match lines.next_line().await {
                Ok(Some(line)) => Some((line, lines)),
                _ => None,
            }
        },
    ))
}

async fn send_lines(
    mut lines: impl futures_util::Stream<Item = String> + Unpin,
    what: &str,
    tx: tokio::sync::mpsc::Sender<Result<Value, Failure>>,
) {
    let mut n = 0;
    while let Some(line) = lines.next().await {
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = parse_json_line(&line, &format!("{what} {n}"));
        let stop = parsed.is_err();
        if tx.send(parsed).await.is_err() || stop {
            return;
        }
    }
}

/// Make the call and print what it answers: a unary response as pretty JSON, stream
/// responses as JSON lines, nothing for oneway.
pub async fn run(
    client: &Client,
    service: &str,
    method: &str,
    kind: MethodKind,
    arg: Option<&str>,
    options: CallOptions,
) -> Result<(), Failure> {
    let (service, method) = (service.to_owned(), method.to_owned());
    match kind {
        MethodKind::Unary => {
            let request = request(arg).await?;
            let answer: Value = client
                .call(service, method, request)
                .options(options)
                .await?;
            print_pretty(&answer);
        }
        MethodKind::Oneway => {
            let request = request(arg).await?;
            client
                .oneway(service, method, request)
                .options(options)
                .await?;
        }
        MethodKind::ServerStream => {
            let request = request(arg).await?;
            let responses = client
                .server_stream::<Value, Value>(service, method, request)
                .options(options)
                .await?;
            print_lines(responses).await?;
        }
        MethodKind::ClientStream | MethodKind::BidiStream => {
            let mut requests = stream_requests(arg).await?;
            // A bad line cancels the call: the stream of requests then never ends (ending it
            // would half-close, and the server would answer the lines before as if they
            // were all), and the bad line is reported instead of any answer.
            let (bad_tx, mut bad_rx) = tokio::sync::oneshot::channel::<Failure>();
            let mut bad_tx = Some(bad_tx);
            let values = futures_util::stream::poll_fn(move |cx| {
                let Some(tx) = bad_tx.take() else {
                    return Poll::Pending;
                };
                match requests.poll_recv(cx) {
                    Poll::Ready(Some(Err(failure))) => {
                        let _ = tx.send(failure);
                        Poll::Pending
                    }
                    other => {
                        bad_tx = Some(tx);
                        other.map(|line| line.and_then(Result::ok))
                    }
                }
            });
            let call = async {
                if kind == MethodKind::ClientStream {
                    let answer = client
                        .client_stream::<Value, Value>(service, method, values)
                        .options(options)
                        .await?;
                    print_pretty(&answer);
                    Ok(())
                } else {
                    let responses = client
                        .bidi_stream::<Value, Value>(service, method, values)
                        .options(options)
                        .await?;
                    print_lines(responses).await
                }
            };
            tokio::select! {
                // Dropping the call cancels it (the server sees a cancel, not an end).
                Ok(bad) = &mut bad_rx => return Err(cancelled(bad)),
                outcome = call => outcome?,
            }
        }
    }
    Ok(())
}

/// A bad request line's failure, saying that the call was cancelled because of it.
fn cancelled(bad: Failure) -> Failure {
    match bad {
        Failure::Usage(message) => Failure::Usage(format!("{message} (the call was cancelled)")),
        other => other,
    }
}

fn print_pretty(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(_) => println!("{value}"),
    }
}

/// Each response on a line of its own, as it arrives; the stream's error, if it ends in one.
async fn print_lines(mut responses: erpc_core::Streaming<Value>) -> Result<(), Failure> {
    use std::io::Write;
    while let Some(value) = responses.message().await? {
        let mut out = std::io::stdout().lock();
        // A closed stdout (`| head`) ends the command quietly.
        if writeln!(out, "{value}").and_then(|_| out.flush()).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
