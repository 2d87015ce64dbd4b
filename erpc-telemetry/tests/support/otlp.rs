//! A real OTLP/gRPC trace receiver (opentelemetry-proto's generated server) for the tests:
//! every span the exporter sends, decoded.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::sync::mpsc;

/// An OTLP/gRPC trace receiver: every span it is sent.
struct Receiver(mpsc::UnboundedSender<Span>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                for span in scope.spans {
                    let _ = self.0.send(span);
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// A receiver on a free local port: its `http://` endpoint and the spans it is sent.
#[allow(dead_code)] // not every test binary starts one this way
pub async fn receiver() -> (String, mpsc::UnboundedReceiver<Span>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    receiver_on(listener)
}

/// A receiver on `listener` (a port chosen before, e.g. one an exporter already failed on).
#[allow(dead_code)] // not every test binary starts one late
pub fn receiver_on(listener: tokio::net::TcpListener) -> (String, mpsc::UnboundedReceiver<Span>) {
    let addr = listener.local_addr().expect("bound");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (format!("http://{addr}"), rx)
}
