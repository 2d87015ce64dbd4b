#[erpc::service]
trait Greeter {
    async fn hello(&self, name: String, cx: erpc::Context) -> Result<String, erpc::Status>;
}

fn main() {}
