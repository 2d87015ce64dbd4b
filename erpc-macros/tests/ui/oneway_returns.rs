#[erpc::service]
trait Greeter {
    #[oneway]
    async fn log(&self, line: String) -> Result<(), erpc::Status>;
}

fn main() {}
