#[erpc::service]
trait Greeter {
    async fn hello<T>(&self, name: T) -> Result<String, erpc::Status>;
}

fn main() {}
