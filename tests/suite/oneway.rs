//! Oneway calls run on the server and answer nothing.

use crate::support;

use erpc::ServerConfig;
use support::*;

#[tokio::test]
async fn a_oneway_to_an_unknown_method_does_not_disturb_the_connection() {
    let server = start("mem", ServerConfig::default()).await;
    let client = erpc::Client::connect(server.addr.as_str()).await.unwrap();
    client.oneway("Echo", "nope", 1u8).await.unwrap();
    client.oneway("Nope", "nope", 1u8).await.unwrap();
    let n: u64 = client.call("Echo", "len", "abc".to_string()).await.unwrap();
    assert_eq!(n, 3);
}
