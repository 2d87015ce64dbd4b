#[erpc::service]
trait Greeter {
    async fn hello(&mut self, name: String) -> Result<String, erpc::Status>;
}

fn main() {}
