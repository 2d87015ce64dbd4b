#[erpc::service]
trait Log {
    #[idempotent]
    #[oneway]
    async fn log(&self, line: String);
}

fn main() {}
