//! Generates the tonic echo service from a Rust description (no protoc needed).

fn main() {
    let echo = tonic_build::manual::Service::builder()
        .name("Echo")
        .package("bench")
        .method(
            tonic_build::manual::Method::builder()
                .name("echo")
                .route_name("Echo")
                .input_type("crate::message::PbMsg")
                .output_type("crate::message::PbMsg")
                .codec_path("tonic_prost::ProstCodec")
                .build(),
        )
        .method(
            tonic_build::manual::Method::builder()
                .name("stream_echo")
                .route_name("StreamEcho")
                .input_type("crate::message::PbMsg")
                .output_type("crate::message::PbMsg")
                .codec_path("tonic_prost::ProstCodec")
                .client_streaming()
                .server_streaming()
                .build(),
        )
        .build();
    tonic_build::manual::Builder::new().compile(&[echo]);
}
