use erpc::{Status, Streaming};

#[erpc::service]
trait Sums {
    async fn sum(&self, label: String, numbers: Streaming<u32>) -> Result<u64, Status>;
}

fn main() {}
