#[erpc::service(version = "2")]
trait Greeter {
    async fn hello(&self, name: String) -> Result<String, erpc::Status>;
}

fn main() {}
