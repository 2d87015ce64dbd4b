use erpc::Streaming;

#[erpc::service]
trait Sink {
    #[oneway]
    async fn drain(&self, numbers: Streaming<u32>);
}

fn main() {}
