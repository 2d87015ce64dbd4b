#[erpc::service]
trait Greeter {
    async fn hello(&self, name: &str) -> Result<String, erpc::Status>;
}

fn main() {}
