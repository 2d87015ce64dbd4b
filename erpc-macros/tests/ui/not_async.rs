#[erpc::service]
trait Greeter {
    fn hello(&self, name: String) -> Result<String, erpc::Status>;
}

fn main() {}
